"""Snapshots: atomic writes, rotation, fallback past corrupt files, and a full disk that tears nothing."""

import errno

import pytest

from casino_tui.engine.state import PersistedState
from casino_tui.storage import SnapshotError, SnapshotStore


def state(n: int) -> PersistedState:
    return PersistedState(saved_ms=n, journal_seq=n, paused=bool(n % 2), next_bracket_seq=n + 1)


def test_save_then_load_round_trips(tmp_path):
    store = SnapshotStore(tmp_path)
    store.save(state(3))
    loaded, warnings = store.load(PersistedState)
    assert loaded == state(3) and warnings == []


def test_rotation_keeps_ten_backups(tmp_path):
    store = SnapshotStore(tmp_path)
    for n in range(15):
        store.save(state(n))
    assert len(store.candidates()) == 11
    assert store.load(PersistedState)[0].journal_seq == 14
    oldest = (tmp_path / "state.json.10").read_bytes()
    assert b'"journal_seq":4' in oldest


@pytest.mark.parametrize("damage", [b"", b'{"version":1,"saved_ms":', b"\x00\xff garbage"])
def test_corrupt_newest_snapshot_falls_back_and_is_kept_aside(tmp_path, damage):
    store = SnapshotStore(tmp_path)
    store.save(state(1))
    store.save(state(2))
    store.path.write_bytes(damage)
    loaded, warnings = store.load(PersistedState)
    assert loaded.journal_seq == 1
    assert len(warnings) == 1 and "unreadable" in warnings[0]
    kept = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == damage


def test_a_snapshot_that_cannot_be_read_is_an_error_and_nothing_is_moved(tmp_path):
    store = SnapshotStore(tmp_path)
    store.save(state(1))  # becomes the backup an unreadable newest file must not silently fall back to
    store.save(state(2))
    store.path.unlink()
    store.path.mkdir()  # an OS error on read, even for root (who passes every permission check)
    with pytest.raises(SnapshotError, match="cannot be read"):
        store.load(PersistedState)
    assert store.path.is_dir() and not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_set_aside_snapshot_is_stamped_with_the_store_clock(tmp_path):
    store = SnapshotStore(tmp_path, clock_ms=lambda: 1_767_225_600_000)
    store.save(state(1))
    store.path.write_bytes(b"garbage")
    store.load(PersistedState)
    assert (tmp_path / "state.json.corrupt-20260101T000000Z").read_bytes() == b"garbage"


def test_disk_full_leaves_previous_snapshot_intact_and_no_temp_file(tmp_path):
    good = SnapshotStore(tmp_path)
    good.save(state(5))
    before = good.path.read_bytes()

    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    store = SnapshotStore(tmp_path, write=full_disk)
    with pytest.raises(SnapshotError, match="No space left on device"):
        store.save(state(6))
    assert good.path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))
    assert store.errors == 1
    assert store.load(PersistedState)[0].journal_seq == 5


def test_short_writes_are_completed(tmp_path):
    import os

    def trickle(fd, data):
        return os.write(fd, bytes(data[:7]))

    store = SnapshotStore(tmp_path, write=trickle)
    store.save(state(9))
    assert store.load(PersistedState)[0] == state(9)


def test_no_snapshot_loads_none(tmp_path):
    assert SnapshotStore(tmp_path).load(PersistedState) == (None, [])
