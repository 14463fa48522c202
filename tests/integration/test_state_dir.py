"""The state dir as an operator meets it, with real processes and real files: one engine per directory, a
journal that cannot be opened told apart from a damaged one, and every printed time on the runtime clock."""

from __future__ import annotations

import calendar
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from casino_tui.engine.journal import Journal
from casino_tui.model import JournalKind
from casino_tui.paths import StatePaths, state_paths

ENV = {**os.environ, "CASINO_SENSORS_EXECUTOR": "inline"}
READY_DEADLINE_S = 90.0


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "casino_tui.cli", *args]


def run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    kwargs.setdefault("env", ENV)
    return subprocess.run(
        cli(*args), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, **kwargs
    )


def start_headless(state_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli("--headless", "--state-dir", str(state_dir)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def read_until(proc: subprocess.Popen[str], needle: str) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never appeared; output:\n{''.join(lines)}")


def one_line(stderr: str) -> str:
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr.strip()


# ----------------------------------------------------------------------------- one instance per state dir


def test_a_second_instance_exits_2_naming_the_holder_and_a_third_starts_once_it_stopped(tmp_path):
    first = start_headless(tmp_path)
    try:
        read_until(first, "ready:")
        for mode in (["--headless"], []):  # headless and console are refused alike, before any UI
            second = run(*mode, "--state-dir", str(tmp_path), "--timeout", "30")
            assert second.returncode == 2, second.stderr
            line = one_line(second.stderr)
            assert f"PID {first.pid}" in line and "in use" in line, line

        # The read-only journal command works beside the running engine, and shows only its session.
        journal = run("journal", "--state-dir", str(tmp_path))
        assert journal.returncode == 0, journal.stderr
        sessions = [line for line in journal.stdout.splitlines() if " SESSION " in line]
        assert len(sessions) == 1 and f"pid={first.pid}" in sessions[0], journal.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert out.rstrip().splitlines()[-1].startswith("report: ")

    third = run("--headless", "--state-dir", str(tmp_path), "--timeout", "2")
    assert third.returncode == 0, third.stderr


# ----------------------------------------------------------------------------- journal errors told apart


PR_CAPBSET_DROP = 24
# Root passes every permission check through these; without them it is refused like any other owner.
ROOT_OVERRIDES = {"CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3}


def drop_root_overrides() -> None:
    """preexec_fn: take the permission overrides out of the bounding set, so the exec'd root process lacks
    them and gets EACCES from the permission bits like an ordinary user (switching to `nobody` is no option:
    the interpreter lives under /root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in ROOT_OVERRIDES.values():
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def permission_denied(tmp_path: Path) -> Callable[[], None] | None:
    """How to start a process that permission bits really deny: as root, one without the overrides."""
    if os.geteuid() != 0:
        return None
    probe = tmp_path / "probe"
    probe.write_text("secret")
    probe.chmod(0o000)
    try:
        check = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}).read()"],
            capture_output=True,
            timeout=60,
            preexec_fn=drop_root_overrides,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot drop root's permission overrides here: {exc}")
    finally:
        probe.unlink()
    if check.returncode == 0:
        pytest.skip("root still reads a mode-000 file without its overrides: no way to deny it here")
    return drop_root_overrides


@pytest.mark.parametrize("denied", ["state dir read-only", "journal file unreadable"])
def test_a_journal_the_user_may_not_open_exits_2_and_stays_byte_for_byte(tmp_path, permission_denied, denied):
    paths = state_paths(tmp_path, "sim").ensure()
    journal = Journal(paths.journal)
    journal.append(
        JournalKind.BRACKET, {"id": "b0001", "state": "PROTECTED"}, symbol="BTCUSDT", ref="b0001"
    ).result()
    journal.close()
    before = paths.journal.read_bytes()
    paths.lock.touch()  # the lock and the log file stay usable: only the journal is refused
    if denied == "state dir read-only":
        paths.root.chmod(0o555)
    else:
        paths.journal.chmod(0o000)
    try:
        result = run(
            "--headless", "--state-dir", str(tmp_path), "--timeout", "30", preexec_fn=permission_denied
        )
    finally:
        paths.root.chmod(0o755)
        paths.journal.chmod(0o644)

    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert str(paths.journal) in line and "nothing was changed" in line, line
    assert paths.journal.read_bytes() == before
    assert not [p.name for p in paths.root.iterdir() if ".corrupt-" in p.name]


def test_a_damaged_journal_is_set_aside_and_the_engine_starts_a_new_one(tmp_path):
    paths = state_paths(tmp_path, "sim").ensure()
    damaged = b"not a database " * 500
    paths.journal.write_bytes(damaged)

    result = run("--headless", "--state-dir", str(tmp_path), "--timeout", "2")

    assert result.returncode == 0, result.stderr
    (aside,) = [p for p in paths.root.iterdir() if p.name.startswith("journal.sqlite3.corrupt-")]
    assert aside.read_bytes() == damaged
    assert "kept aside as" in result.stdout
    fresh = Journal(paths.journal, readonly=True)
    assert any(e.kind == "SESSION" for e in fresh.read())
    fresh.close()


# ----------------------------------------------------------------------------- one clock


def log_time_ms(line: str) -> int:
    """The runtime-clock time a stdout log line starts with (`2026-01-01 00:00:00 ...`, UTC)."""
    return calendar.timegm(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) * 1000


def test_headless_logs_and_report_on_the_sim_read_one_clock(tmp_path):
    result = run("--headless", "--state-dir", str(tmp_path), "--speed", "30", "--timeout", "4")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (ready,) = [line for line in lines if "ready:" in line]
    assert "clock SIM 30×" in ready
    report = json.loads(Path(lines[-1].removeprefix("report: ")).read_text())
    assert report["clock"] == "SIM 30×"
    (stopped,) = [line for line in lines if line.endswith(" runtime stopped")]
    ended_ms = calendar.timegm(time.strptime(report["ended_at"], "%Y-%m-%dT%H:%M:%SZ")) * 1000
    # The report is written moments before "stopped" is logged. On two clocks they would be apart by
    # 29x the run's length (about two sim minutes for 4 s); on one clock, by a few sim seconds at most.
    assert abs(log_time_ms(stopped) - ended_ms) < 30_000, (stopped, report["ended_at"])
    stamp = Path(lines[-1]).name.split("-")[1]  # session-<UTC stamp>-<pid>.json, on the same clock
    assert stamp == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ended_ms / 1000))


def test_journal_since_on_the_sim_returns_only_the_last_sim_minute(tmp_path):
    paths: StatePaths = state_paths(tmp_path, "sim")
    result = run("--headless", "--state-dir", str(tmp_path), "--speed", "60", "--timeout", "4")
    assert result.returncode == 0, result.stderr
    every = run("journal", "--state-dir", str(tmp_path))
    recent = run("journal", "--state-dir", str(tmp_path), "--since", "60s")
    assert every.returncode == recent.returncode == 0, recent.stderr

    journal = Journal(paths.journal, readonly=True)
    entries = journal.read()
    journal.close()
    last_ms = entries[-1].ts_ms
    expected = [e for e in entries if e.ts_ms >= last_ms - 60_000]
    # At 60x a 4 s run spans minutes of sim time: the session's start is older than its last sim minute.
    assert entries[0].ts_ms < last_ms - 60_000, "the run should span more than one sim minute"
    assert len(recent.stdout.splitlines()) == len(expected) < len(every.stdout.splitlines())
