"""The sim's paper account on disk: saved in the state dir at every runtime snapshot and at shutdown, restored
at start, so kept positions, their TP/SL orders, the wallet and the prices carry on across restarts.

`paper/account.json` holds the exchange's state (account, open and recent orders, market path and generator
state, sim clock), written atomically by a SnapshotStore. The market's closed 1m candles only ever grow,
so they are not rewritten each time: `paper/candles.f64` gets the new rows (written and fsynced before
`account.json` is replaced), and `account.json` says how many rows belong to it. A missing, unreadable or
unfitting save gives a fresh sim, with one log line; a bad save is kept aside, never deleted.

After a crash the save can be up to one interval older than the journal; the startup reconcile then treats
the restored sim as the exchange's truth, as it does a real exchange's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from casino_tui.clock import Clock, ManualClock, SimClock
from casino_tui.exchange.sim.exchange import SimExchange, SimState
from casino_tui.port import Exchange
from casino_tui.storage import SnapshotError, SnapshotStore

log = logging.getLogger("casino.sim.paper")

DIRECTORY = "paper"
ACCOUNT = "account.json"
CANDLES = "candles.f64"
VERSION = 1


class PaperAccountError(Exception):
    """The saved paper account exists but cannot be read (permissions, I/O): the operator must look."""


class SavedPaper(msgspec.Struct, kw_only=True):
    """What `account.json` holds."""

    version: int = VERSION
    sim: SimState


class PaperSave(msgspec.Struct, frozen=True):
    """One save, taken on the event loop so it is one instant of the sim: the state and its new candle rows."""

    saved: SavedPaper
    first_row: int  # where `rows` go in the candle file
    rows: bytes


class _SavedClock(msgspec.Struct):
    clock_ms: int


class _SavedClockOnly(msgspec.Struct):
    sim: _SavedClock


def saved_sim_clock_ms(state_dir: Path) -> int | None:
    """The sim time the paper account in `state_dir` was saved at, or None (no readable save).

    A sim clock built from it needs no jump when the account is restored.
    """
    try:
        raw = (state_dir / DIRECTORY / ACCOUNT).read_bytes()
        return msgspec.json.decode(raw, type=_SavedClockOnly).sim.clock_ms
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None  # `PaperStore.restore` says what is wrong with it


class PaperStore:
    """Saves and restores one SimExchange in `directory`; the clock is the sim's, resumed where it stopped."""

    def __init__(self, exchange: SimExchange, clock: SimClock | ManualClock, directory: Path) -> None:
        self.exchange = exchange
        self.clock = clock
        self.directory = directory
        self.candles_path = directory / CANDLES
        self._store = SnapshotStore(directory, backups=0, name=ACCOUNT)
        self._rows_on_disk = 0  # candle rows known written and fsynced

    @classmethod
    def for_exchange(cls, exchange: Exchange, clock: Clock, state_dir: Path | None) -> PaperStore | None:
        """A store when `exchange` is the sim on a clock that can resume and there is a state dir, else None."""
        if state_dir is None or not isinstance(exchange, SimExchange):
            return None
        if not isinstance(clock, SimClock | ManualClock):
            return None
        return cls(exchange, clock, state_dir / DIRECTORY)

    @property
    def account_path(self) -> Path:
        return self._store.path

    # -- restoring ---------------------------------------------------------------------------------------

    def restore(self) -> bool:
        """Put the saved paper account back into the exchange (before it starts); False means a fresh sim.

        Raises PaperAccountError when the files cannot be read at all (permissions, I/O): nothing is changed.
        """
        try:
            raw = self.account_path.read_bytes()
        except FileNotFoundError:
            log.info("no saved paper account in %s: a fresh sim", self.directory)
            return False
        except OSError as exc:
            raise PaperAccountError(
                f"cannot read the paper account {self.account_path}: {exc.strerror}"
            ) from None
        try:
            saved = msgspec.json.decode(raw, type=SavedPaper)
            if saved.version != VERSION:
                raise ValueError(f"version {saved.version}, this build reads {VERSION}")
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            self._refuse("corrupt", f"unreadable ({exc})")
            return False
        sim, market = saved.sim, self.exchange.market
        if sim.market.symbols != market.symbols or sim.market.seed != market.seed:
            why = f"its sim has seed {sim.market.seed} and symbols {','.join(sim.market.symbols)}"
            self._refuse("unused", f"not for this sim ({why})")
            return False
        rows = max(sim.market.minute, 0)
        try:
            self.exchange.restore(sim, self._read_candles(rows * market.candle_row_bytes))
        except ValueError as exc:
            self._refuse("corrupt", f"unusable ({exc})")
            return False
        self._resume_clock(sim.clock_ms)
        self._rows_on_disk = rows
        account = sim.account
        log.warning(
            "paper account restored: wallet %.2f USDT (realized %+.2f, fees %.2f), %d positions, "
            "%d open orders; sim clock %s",
            account.wallet,
            account.realized_pnl,
            account.fees,
            len(account.positions),
            len(account.resting),
            datetime.fromtimestamp(sim.clock_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
        return True

    def _read_candles(self, size: int) -> bytes:
        if size == 0:
            return b""
        try:
            with open(self.candles_path, "rb") as f:
                data = f.read(size)
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise PaperAccountError(f"cannot read {self.candles_path}: {exc.strerror}") from None
        if len(data) != size:
            raise ValueError(f"{CANDLES} holds {len(data)} of the {size} bytes the account needs")
        return data

    def _resume_clock(self, clock_ms: int) -> None:
        """The sim's time stood still while nothing ran: it goes on from the saved instant, never before it.

        (Never back: what already read the clock must not see time run backwards.)
        """
        if self.clock.now_ms() >= clock_ms:
            return
        if isinstance(self.clock, SimClock):
            self.clock.resume_at(clock_ms)
        else:
            self.clock.set(clock_ms)

    def _refuse(self, tag: str, why: str) -> None:
        account = self._set_aside(ACCOUNT, tag)
        self._set_aside(CANDLES, tag)
        log.warning("saved paper account %s; kept as %s; starting a fresh sim", why, account.name)

    def _set_aside(self, name: str, tag: str) -> Path:
        path = self.directory / name
        aside = path.with_name(f"{name}.{tag}-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            return path
        except OSError as exc:
            log.error("could not set %s aside: %s", path, exc)
            return path
        return aside

    # -- saving ------------------------------------------------------------------------------------------

    def capture(self) -> PaperSave:
        """The exchange now, with the candle rows not yet on disk (cheap: call it on the event loop)."""
        sim = self.exchange.state()
        market = self.exchange.market
        first = min(self._rows_on_disk, max(sim.market.minute, 0))
        return PaperSave(SavedPaper(sim=sim), first, market.candle_rows(first, max(sim.market.minute, 0)))

    def write(self, save: PaperSave) -> None:
        """Candle rows first, then `account.json` atomically; SnapshotError if either could not be written."""
        if save.rows:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.candles_path, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    offset = save.first_row * self.exchange.market.candle_row_bytes
                    if os.fstat(fd).st_size < offset:
                        self._rows_on_disk = 0  # rows went missing: the next save writes them all again
                        raise SnapshotError(
                            f"paper account not saved: {CANDLES} lost rows; the next save rewrites it"
                        )
                    view = memoryview(save.rows)
                    while view:
                        written = os.pwrite(fd, view, offset)
                        view, offset = view[written:], offset + written
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise SnapshotError(
                    f"paper account not saved ({exc.strerror or exc}); the previous one is intact"
                ) from None
        self._store.save(save.saved)
        self._rows_on_disk = save.first_row + len(save.rows) // self.exchange.market.candle_row_bytes

    def save(self) -> None:
        """Capture and write now (shutdown)."""
        self.write(self.capture())

    async def write_async(self, save: PaperSave) -> None:
        """`write` off the event loop."""
        await asyncio.to_thread(self.write, save)
