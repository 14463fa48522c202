"""What every benchmark shares: the machine it ran on, a `--tiny` preset the test suite runs, and the JSON
result printed as the last line of stdout."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

MACHINE_KEYS = ("python", "implementation", "platform", "cpu", "cpu_count", "loadavg", "numpy", "msgspec")


def machine_info() -> dict[str, Any]:
    """CPU model and count, Python and the numeric libraries: figures mean little without them."""
    import msgspec
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "numpy": numpy.__version__,
        "msgspec": msgspec.__version__,
    }


def add_tiny_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tiny", action="store_true", help="a few seconds on small inputs (what the test suite runs)"
    )


def parse_args(parser: argparse.ArgumentParser, tiny: dict[str, Any]) -> argparse.Namespace:
    """Parse the command line; with `--tiny`, `tiny` replaces the defaults (flags given explicitly still win)."""
    add_tiny_flag(parser)
    args = parser.parse_args()
    if args.tiny:
        parser.set_defaults(**tiny)
        args = parser.parse_args()
    return args


def print_machine(info: dict[str, Any]) -> None:
    for key, value in info.items():
        print(f"{key:>15}: {value}")


def emit(result: dict[str, Any], info: dict[str, Any], args: argparse.Namespace) -> None:
    """The result as one JSON object on the last line, with the machine and whether it was a tiny run."""
    print(json.dumps({**result, "tiny": bool(getattr(args, "tiny", False)), "machine": info}), flush=True)
