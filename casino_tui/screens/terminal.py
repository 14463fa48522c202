"""The terminal driver the console runs on: Textual's, leaving a clean shell screen behind after any resize."""

from __future__ import annotations

from textual.drivers.linux_driver import LinuxDriver  # POSIX only, like the state lock (statelock.py)

CLEAR_SCREEN = "\x1b[H\x1b[2J"


class CleanExitDriver(LinuxDriver):
    """Blanks the alternate screen before leaving it.

    A terminal that resizes the saved shell screen together with the alternate one (tmux does) copies rows of
    the console into the shell when the window grew while the console ran; blank rows leave nothing behind.
    """

    def stop_application_mode(self) -> None:
        self.write(CLEAR_SCREEN)
        self.flush()
        super().stop_application_mode()
