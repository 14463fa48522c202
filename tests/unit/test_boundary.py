"""The engine never imports textual: the headless path is importable and runnable without it."""

import subprocess
import sys

HEADLESS_MODULES = [
    "casino_tui.headless",
    "casino_tui.runtime",
    "casino_tui.engine.engine",
    "casino_tui.engine.croupier",
    "casino_tui.engine.player",
    "casino_tui.sensors.manager",
    "casino_tui.exchange.sim.exchange",
]


def test_headless_path_never_imports_textual():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in HEADLESS_MODULES)
        + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"textual imported by the headless path: {result.stdout}"
