"""The engine never imports textual: every module below the faces imports in a fresh interpreter without it.

The modules are discovered, not listed, so a new engine or adapter module is covered the day it is added.
import-linter (`lint-imports`, run by .ci/run) checks the same rule statically; this test checks what Python
really loads, lazy imports included.
"""

import pkgutil
import subprocess
import sys

import pytest

import casino_tui

FACES = (
    "casino_tui.app",
    "casino_tui.console",
    "casino_tui.screens",
    "casino_tui.cli",
    "casino_tui.__main__",
)


def headless_modules() -> list[str]:
    """Every module of the package except the Textual faces (and the CLI that starts them)."""
    names = [m.name for m in pkgutil.walk_packages(casino_tui.__path__, "casino_tui.")]
    return sorted(n for n in names if not n.startswith(FACES))


def test_the_discovery_finds_the_engine_the_adapters_and_the_sensors():
    modules = headless_modules()
    for expected in (
        "casino_tui.runtime",
        "casino_tui.headless",
        "casino_tui.engine.brackets.oco",
        "casino_tui.exchange.binance.connector",
        "casino_tui.exchange.sim.exchange",
        "casino_tui.sensors.manager",
        "casino_tui.sandbox.serve",
    ):
        assert expected in modules
    assert len(modules) > 80


@pytest.mark.parametrize("chunk", range(4))
def test_no_module_below_the_faces_imports_textual(chunk):
    modules = headless_modules()[chunk::4]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "    if bad:\n"
        "        print(name, ','.join(bad[:3]))\n"
        "        break\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"textual imported by: {result.stdout}"
