"""RuleBatch: evaluates every sensor of one timeframe at a close with as few numpy calls as possible.

Calling each rule on its own costs a dozen small numpy calls per sensor, and at shard sizes (tens of
symbols) the cost of a call, not the arithmetic, is the bill. So the lines the declared rules read
(indicator outputs, the close, constants) are stacked once per close into a (2L, n) block — this close's L
lines over the previous close's — and the rules of one kind run as a single `compute` over (m, n) rows of
it. Element-wise arithmetic makes every row equal, bit for bit, to the rule called alone. Which symbols a
NaN silences comes from the block's non-finite rows and the sensors that read each of them. Rules that
declare nothing (any callable) are called one by one through a `RuleInput`, as the contract says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from casino_tui.sensors.rules import DeclaredRule, Ref, Rule, RuleInput

Sensor = tuple[str, Rule, Mapping[str, int]]  # name, rule, indicator key -> state slot
OnError = Callable[[str, Exception], None]

# Where a line's values come from: the close, a constant, or output `out` (None: the whole output) of the
# indicator state in slot `slot`.
_CLOSE = ("close",)
LineSource = tuple[Any, ...]
# The declared rules of one kind while they are collected: the first of them, their sensor rows, and per
# rule its (line, when) reads and its numbers.
_Members = tuple[DeclaredRule, list[int], list[list[tuple[int, int]]], list[tuple[float, ...]]]


def _source(ref: Ref, index: Mapping[str, int]) -> LineSource:
    if isinstance(ref, tuple):
        key, out = ref
        return ("state", index[key], out)
    if isinstance(ref, str):
        return _CLOSE if ref == "close" else ("state", index[ref], None)
    return ("const", float(ref))


class _Group:
    """Declared rules of one kind: their rows in the result, a gather index per line position into the
    block, and a column per number."""

    __slots__ = ("rule", "rows", "gathers", "columns")

    def __init__(
        self, rule: DeclaredRule, rows: list[int], reads: list[list[int]], numbers: list[tuple[float, ...]]
    ) -> None:
        self.rule = rule
        self.rows = np.array(rows)
        self.gathers = [np.array(pos) for pos in zip(*reads, strict=True)]
        self.columns = [np.array(col, dtype=np.float64)[:, None] for col in zip(*numbers, strict=True)]


class RuleBatch:
    """The sensors of one timeframe (one shard book), evaluated together; see the module docstring."""

    def __init__(self, n: int, sensors: Sequence[Sensor]) -> None:
        self.n = n
        self.sensors = tuple(sensors)
        k = len(self.sensors)
        sources: dict[LineSource, int] = {}
        kinds: dict[object, _Members] = {}
        self.loose: list[int] = []  # sensors called one by one
        # Per sensor, what turns a distance into a strength: 0.5 + distance · 0.5 / scale (rules._strength).
        self._half = np.zeros((k, 1))
        for j, (_, rule, index) in enumerate(self.sensors):
            try:
                if not isinstance(rule, DeclaredRule):
                    raise NotImplementedError
                declared = [(_source(ref, index), when) for ref, when in rule.lines()]
                self._half[j] = 0.5 / rule.strength_scale()
            except (KeyError, NotImplementedError, ZeroDivisionError):
                # Not declared, or reading a key it does not have: it runs (and fails, and is reported) alone.
                self.loose.append(j)
                continue
            reads = [(sources.setdefault(source, len(sources)), when) for source, when in declared]
            members = kinds.setdefault(rule.kind(), (rule, [], [], []))
            members[1].append(j)
            members[2].append(reads)
            members[3].append(rule.numbers())
        self.lines = list(sources)
        size = len(self.lines)
        self.groups = [
            _Group(rule, rows, [[line + size * when for line, when in r] for r in reads], numbers)
            for rule, rows, reads, numbers in kinds.values()
        ]
        readers: list[set[int]] = [set() for _ in range(2 * size)]
        for group in self.groups:
            for j, gather in zip(group.rows.tolist(), zip(*group.gathers, strict=True), strict=True):
                for row in gather:
                    readers[int(row)].add(j)
        self.readers = [
            np.array(sorted(r), dtype=np.intp) for r in readers
        ]  # block row -> sensors reading it
        # Group outputs are concatenated (loose rows last, as zeros) and put back in sensor order in one take.
        stacked = [j for group in self.groups for j in group.rows.tolist()] + self.loose
        self.order = np.argsort(np.array(stacked, dtype=np.intp))
        self._loose_zeros = np.zeros((len(self.loose), n))
        self._consts = {s: np.full(n, s[1]) for s in self.lines if s[0] == "const"}
        self._nan = np.full(n, np.nan)
        self._last: tuple[int, np.ndarray] | None = None  # (generation, block) of the previous evaluation
        self._broken = False  # a line that is not an (n,) array: everything goes one by one

    def forget(self) -> None:
        """The book was reset: the previous block no longer describes the previous close."""
        self._last = None

    def evaluate(
        self,
        close: np.ndarray,
        prev_close: np.ndarray,
        now: Sequence[Any],
        before: Sequence[Any],
        generation: int,
        on_error: OnError,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw (votes, strengths, valid) of shape (k, n), sensors in order; `generation` counts the closes fed
        to the book, so the previous block is reused only for the close right before this one."""
        k = len(self.sensors)
        block = None if self._broken else self._block(close, prev_close, now, before, generation)
        loose: Sequence[int] = self.loose
        if block is None:
            raw_votes, raw_strengths = np.zeros((k, self.n)), np.zeros((k, self.n))
            valid = np.ones((k, self.n), dtype=bool)
            loose = range(k)
        else:
            valid = self._valid(block)
            votes: list[np.ndarray] = []
            distances: list[np.ndarray] = []
            failed: list[int] = []
            for group in self.groups:
                try:
                    v, d = group.rule.compute(*[block.take(g, axis=0) for g in group.gathers], *group.columns)
                    if v.shape != d.shape or v.shape != (len(group.rows), self.n):
                        raise ValueError(f"{type(group.rule).__name__}.compute gave the wrong shape")
                    votes.append(v)
                    distances.append(d)
                except Exception:
                    # Find out which rule fails, and count it, the way an undeclared rule would be.
                    votes.append(np.zeros((len(group.rows), self.n)))
                    distances.append(votes[-1])
                    failed.extend(group.rows.tolist())
            votes.append(self._loose_zeros)
            distances.append(self._loose_zeros)
            raw_votes = np.concatenate(votes).take(self.order, axis=0)
            # Every declared rule's strength in two calls (loose rows are overwritten below).
            raw_strengths = np.concatenate(distances).take(self.order, axis=0) * self._half + 0.5
            if failed:
                loose = [*loose, *failed]
        if loose:
            finite: dict[Any, np.ndarray] = {}
            for j in loose:
                name, rule, index = self.sensors[j]
                x = RuleInput(close, prev_close, now, before, index, finite)
                try:
                    raw_votes[j], raw_strengths[j] = rule(x)
                    valid[j] = True if x.read_mask is None else x.read_mask
                except Exception as exc:
                    raw_votes[j] = raw_strengths[j] = 0.0
                    on_error(name, exc)
        return raw_votes, raw_strengths, valid

    def _valid(self, block: np.ndarray) -> np.ndarray:
        """(k, n): False where a declared rule read a non-finite value. Rows with a NaN are few once the
        states are warm (none at all in the steady state), so only those are visited."""
        valid = np.ones((len(self.sensors), self.n), dtype=bool)
        nonfinite = ~np.isfinite(block)
        for row in np.flatnonzero(nonfinite.any(axis=1)).tolist():
            readers = self.readers[row]
            valid[readers] &= ~nonfinite[row]
        return valid

    def _block(
        self,
        close: np.ndarray,
        prev_close: np.ndarray,
        now: Sequence[Any],
        before: Sequence[Any],
        generation: int,
    ) -> np.ndarray | None:
        size = len(self.lines)
        block = np.empty((2 * size, self.n))
        try:
            # concatenate(out=) fills the rows of the block in place (np.stack costs four times as much).
            np.concatenate(self._values(close, now), out=block[:size].reshape(-1))
            last = self._last
            if last is not None and last[0] == generation - 1:
                block[size:] = last[1][:size]
            else:
                np.concatenate(self._values(prev_close, before), out=block[size:].reshape(-1))
        except (ValueError, TypeError, IndexError):
            self._broken = True
            return None
        self._last = (generation, block)
        return block

    def _values(self, close: np.ndarray, outputs: Sequence[Any]) -> list[np.ndarray]:
        values = []
        for source in self.lines:
            kind = source[0]
            if kind == "state":
                value = outputs[source[1]]
                if value is None:  # no close that far back yet
                    value = self._nan
                elif source[2] is not None:
                    value = value[source[2]]
            elif kind == "close":
                value = close
            else:
                value = self._consts[source]
            values.append(value)
        return values
