"""A bracket's life: entry, stop-loss and take-profit on the exchange, one cancels the other, then closed.

One way down (import-linter keeps it): `oco` (OCOManager, the coordinator that turns exchange events into
moves and work) on its workers `protection` (places the legs) and `sweep` (flattens the account), both on
`closing` (closes positions, cancels legs); all of them on `book` (BracketBook: the brackets, their locks,
the work in flight and the counters), which sits on `machine` (a Bracket and its legal transitions).
"""
