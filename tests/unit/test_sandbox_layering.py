"""The sandbox is a server, not a client adapter: the product never imports it except the CLI's `sandbox` subcommand."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "casino_tui"
PRODUCT_ENTRY_POINTS = [
    "casino_tui.cli",
    "casino_tui.headless",
    "casino_tui.runtime",
    "casino_tui.exchange.factory",
]


def _sandbox_imports(tree: ast.AST) -> list[ast.stmt]:
    found: list[ast.stmt] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("casino_tui.sandbox"):
            found.append(node)
        elif isinstance(node, ast.Import) and any(
            a.name.startswith("casino_tui.sandbox") for a in node.names
        ):
            found.append(node)
    return found


def test_no_product_module_imports_the_sandbox_at_module_level():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if PACKAGE / "sandbox" in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in _sandbox_imports(tree):
            inside_function = id(node) not in top_level
            if not (path.name == "cli.py" and inside_function):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert offenders == []


def test_starting_the_product_loads_no_sandbox_module():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in PRODUCT_ENTRY_POINTS)
        + "print(','.join(sorted(m for m in sys.modules if m.startswith('casino_tui.sandbox'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
