"""The command palette provider: every console key binding, searchable by name, on the main screen."""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from casino_tui.screens.console import ConsoleScreen

# Commands with no key binding of their own (Enter belongs to the focused table) or none in the footer.
EXTRA_COMMANDS = (
    ("Sensor detail", "Sensor votes of the symbol selected in Consensus", "sensor_detail"),
    ("Trades", "Closed trades, totals and the equity curve (t)", "trades"),
)


class ConsoleCommands(Provider):
    """Offers the app's `console.*` bindings (title = description, help = tooltip) plus a few extras."""

    def _commands(self) -> list[tuple[str, str, str]]:
        if not isinstance(self.screen, ConsoleScreen):
            return []  # over a modal the console's commands would act behind the operator's back
        commands: list[tuple[str, str, str]] = []
        for binding in getattr(self.app, "BINDINGS", []):
            if isinstance(binding, Binding) and (binding.id or "").startswith("console.") and binding.show:
                if self.app.check_action(binding.action, ()) is not False:
                    commands.append((binding.description, binding.tooltip, binding.action))
        commands.extend(EXTRA_COMMANDS)
        return commands

    async def discover(self) -> Hits:
        for title, help_text, action in self._commands():
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self.app.run_action, action), help=help_text
                )
