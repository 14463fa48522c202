"""The sim's paper account across real process restarts: SIGTERM keeps the positions, the next run finds them.

Two headless runs on one state dir: the first trades until a bracket is PROTECTED, pauses and quits with
SIGTERM (headless keeps positions by default); the second must restore the same positions, TP/SL orders and
wallet, and reconcile without a difference.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

DEADLINE_S = 120.0
CONFIG = """
[sensors]
executor = "inline"

[player]
cooldown_s = 0.0

[runtime]
snapshot_interval_s = 0.5
"""


class Headless:
    """One `casino-tui --headless` process with its output in a file (read while it runs, never blocking)."""

    def __init__(self, tmp_path: Path, state_dir: Path, name: str, *args: str) -> None:
        self.out = tmp_path / f"{name}.out"
        config = tmp_path / "config.toml"
        config.write_text(CONFIG)
        with open(self.out, "w") as sink:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "casino_tui.cli",
                    "--headless",
                    "--config",
                    str(config),
                    "--state-dir",
                    str(state_dir),
                    *args,
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def text(self) -> str:
        return self.out.read_text()

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not condition():
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode} waiting for {what}:\n{self.text()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"no {what} within {DEADLINE_S:g}s:\n{self.text()}")
            time.sleep(0.05)

    def wait_for_line(self, needle: str) -> None:
        self.wait_for(lambda: needle in self.text(), repr(needle))

    def stop(self) -> dict:
        """SIGTERM, exit 0, and the session report it names on its last line."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=DEADLINE_S)
        lines = self.text().splitlines()
        assert code == 0, self.text()
        assert lines[-1].startswith("report: "), self.text()
        return json.loads(Path(lines[-1].removeprefix("report: ")).read_text())


def has_protected_bracket(snapshot: Path) -> bool:
    try:
        state = json.loads(snapshot.read_text())
    except (OSError, ValueError):
        return False  # not written yet
    return any(b.get("state") == "PROTECTED" for b in state.get("brackets", []))


def paper_account(state_dir: Path) -> dict:
    """Positions and open orders (client id, trigger) of the sim's saved account."""
    account = json.loads((state_dir / "sim" / "paper" / "account.json").read_text())["sim"]["account"]
    orders = sorted((r["state"]["client_id"], r["state"]["trigger_price"]) for r in account["resting"])
    return {"positions": account["positions"], "orders": orders, "wallet": account["wallet"]}


def test_sigterm_keeps_the_sim_positions_and_the_next_run_restores_them(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = Headless(tmp_path, state_dir, "first")
    first.wait_for(
        lambda: has_protected_bracket(state_dir / "sim" / "snapshots" / "state.json"), "PROTECTED bracket"
    )
    first.proc.send_signal(signal.SIGUSR1)  # pause, so the second run opens nothing new
    first.wait_for_line("paused: no new entries")
    ended = first.stop()
    assert "open positions stay protected" in first.text()
    kept = paper_account(state_dir)
    assert kept["positions"] and ended["open_positions"] == len(kept["positions"])
    assert len(kept["orders"]) == 2 * len(kept["positions"]), "each kept position has its TP and SL"

    # At 1x the few seconds of the second run cannot move a price the 2 % to a TP or SL.
    second = Headless(tmp_path, state_dir, "second", "--speed", "1")
    second.wait_for_line("ready:")
    log = second.text()
    assert f"paper account restored: wallet {kept['wallet']:.2f} USDT" in log, log
    assert f"{len(kept['positions'])} positions, {len(kept['orders'])} open orders" in log, log
    assert "startup reconcile: local state matches the exchange" in log, log
    report = second.stop()
    assert report["start_balance"] == ended["end_balance"], "the wallet carries on"
    assert report["open_positions"] == ended["open_positions"]
    assert paper_account(state_dir) == kept
    assert "Traceback" not in first.text() + second.text()


def saved_positions(state_dir: Path) -> int:
    try:
        return len(paper_account(state_dir)["positions"])
    except (OSError, ValueError, KeyError):
        return 0  # not written yet


def test_a_sigkill_between_saves_restarts_with_every_sim_position_managed_and_protected(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    first = Headless(tmp_path, state_dir, "first")
    first.wait_for(lambda: saved_positions(state_dir) > 0, "a saved paper account with a position")
    first.proc.send_signal(signal.SIGKILL)  # mid-run: the journal may have moved on since the last save
    assert first.proc.wait(timeout=DEADLINE_S) == -signal.SIGKILL

    second = Headless(tmp_path, state_dir, "second", "--speed", "1")
    second.wait_for_line("ready:")
    assert "paper account restored" in second.text()
    report = second.stop()
    assert report["errors"] == 0, second.text()
    account = paper_account(state_dir)
    state = json.loads((state_dir / "sim" / "snapshots" / "state.json").read_text())
    active = {b["symbol"]: b for b in state["brackets"] if b["state"] != "CLOSED"}
    assert active.keys() == account["positions"].keys(), second.text()
    orders = {cid for cid, _ in account["orders"]}
    for symbol, bracket in active.items():
        assert bracket["state"] == "PROTECTED", f"{symbol}: {bracket['state']}\n{second.text()}"
        assert {bracket["sl_client_id"], bracket["tp_client_id"]} == orders & {
            bracket["sl_client_id"],
            bracket["tp_client_id"],
        }, f"{symbol} lacks a leg on the sim"
        assert abs(bracket["qty"] - abs(account["positions"][symbol][0])) < 1e-9
    assert len(orders) == 2 * len(active), "no order without its bracket"
