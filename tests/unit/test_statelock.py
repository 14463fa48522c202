"""The state dir lock: one holder at a time, the holder named, released on exit, invisible to readers."""

import os
import subprocess
import sys

import pytest

from casino_tui.paths import StatePaths
from casino_tui.statelock import StateInUseError, StateLock, StateLockError, holder_pid


def test_a_second_lock_on_a_held_state_dir_is_refused_and_names_the_holder(tmp_path):
    lock_path = StatePaths(tmp_path).lock
    with StateLock(lock_path):
        with pytest.raises(StateInUseError) as refused:
            StateLock(lock_path).acquire()
    assert refused.value.holder == os.getpid()
    assert f"PID {os.getpid()}" in str(refused.value) and str(tmp_path) in str(refused.value)


def test_the_holder_pid_is_written_while_held_and_cleared_on_release(tmp_path):
    lock = StateLock(StatePaths(tmp_path).lock).acquire()
    assert lock.path.read_text().strip() == str(os.getpid())
    assert holder_pid(lock.path) == os.getpid()
    lock.release()
    assert lock.path.read_text() == "" and holder_pid(lock.path) is None
    StateLock(lock.path).acquire().release()  # free again


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    lock_path = StatePaths(tmp_path).lock
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from casino_tui.statelock import StateLock;"
            "StateLock(Path(sys.argv[1])).acquire(); print('held', flush=True); sys.stdin.read()",
            str(lock_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StateInUseError) as refused:
            StateLock(lock_path).acquire()
        assert refused.value.holder == holder.pid
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # The kernel dropped the flock with the process; the PID it left in the file names no live process.
    assert holder_pid(lock_path) is None
    StateLock(lock_path).acquire().release()


def test_a_lock_file_that_cannot_be_created_is_a_one_line_error(tmp_path):
    missing = tmp_path / "no-such-dir" / "casino.lock"
    with pytest.raises(StateLockError, match="cannot lock state dir") as failed:
        StateLock(missing).acquire()
    assert not isinstance(failed.value, StateInUseError) and "\n" not in str(failed.value)
