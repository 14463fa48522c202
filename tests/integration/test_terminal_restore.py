"""Quitting the console after a resize gives the shell its screen back clean, in a real terminal (tmux).

tmux resizes the saved shell screen together with the alternate one; when the window grew while the console
ran, leaving the alternate screen used to copy rows of the console into the shell's screen.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from casino_tui.app import CasinoApp
from casino_tui.screens.terminal import CleanExitDriver
from tests.ui.fake_runtime import FakeRuntime

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

DEADLINE_S = 90.0  # a loaded 2-core box can take a while to start the sim and draw
POLL_S = 0.2
BOX_CHARS = set("╭╮╰╯│─█▀▄")


class Tmux:
    """One tmux server of our own (its own socket), so no other session is touched."""

    def __init__(self) -> None:
        self.socket = f"casino-test-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30, check=True
        )
        return result.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "term")

    def wait_for(self, condition: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            screen = self.screen()
            if condition(screen):
                return screen
            time.sleep(POLL_S)  # polling the terminal: there is nothing to wait on but its contents
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def tmux() -> Tmux:
    server = Tmux()
    yield server  # type: ignore[misc]
    server.kill()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quitting_after_the_window_grew_leaves_no_copy_of_the_console(tmux: Tmux, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", ""), "TERM": "xterm-256color"}
    shell = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    tmux("new-session", "-d", "-s", "term", "-x", "80", "-y", "24", f"env -i {shell} bash --norc --noprofile")
    console = shlex.join([sys.executable, "-m", "casino_tui.cli", "--state-dir", str(tmp_path / "state")])
    tmux("send-keys", "-t", "term", f"clear; echo BEFORE; {console}; echo AFTER $?", "Enter")
    tmux.wait_for(lambda screen: "Brackets" in screen and "Quit" in screen, "the console")

    tmux("resize-window", "-t", "term", "-x", "100", "-y", "30")
    tmux.wait_for(lambda screen: any(len(line) > 90 for line in screen.splitlines()), "a redraw at 100x30")
    tmux("send-keys", "-t", "term", "q")
    screen = tmux.wait_for(lambda s: "AFTER" in s or "What should happen" in s, "the quit question or exit")
    if "What should happen" in screen:
        tmux("send-keys", "-t", "term", "k")  # keep the positions: the sim needs no sweep to stop
    screen = tmux.wait_for(lambda s: "AFTER" in s, "the console to exit")

    assert "AFTER 0" in screen, screen
    shell_rows = screen[: screen.index("AFTER")]
    left_over = {char for char in shell_rows if char in BOX_CHARS}
    assert not left_over, f"rows of the console left on the shell's screen:\n{screen}"
    assert shell_rows.lstrip().startswith("BEFORE"), screen


def test_the_console_runs_on_the_driver_that_blanks_the_screen_first() -> None:
    assert CasinoApp(FakeRuntime(), live=False).get_driver_class() is CleanExitDriver
