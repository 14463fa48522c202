"""REST requests the sandbox received, counted per method and path, for `GET /__admin__/requests`.

Bounded: at most MAX_ROUTES distinct method+path keys; requests beyond that are counted under OTHER. The
first request to each unknown route is logged once, so a client calling an endpoint the sandbox lacks shows.
"""

from __future__ import annotations

import collections
import logging

log = logging.getLogger("casino.sandbox")

MAX_ROUTES = 512
OTHER = "(other)"


class RequestCounts:
    """How many requests each `METHOD /path` got (every request, answered or refused)."""

    def __init__(self) -> None:
        self.by_route: collections.Counter[str] = collections.Counter()

    def count(self, method: str, path: str, served: bool) -> None:
        key = f"{method} {path}"
        if key not in self.by_route and len(self.by_route) >= MAX_ROUTES:
            key = OTHER
        elif key not in self.by_route and not served:
            log.warning("sandbox has no endpoint %s %s: answering 404 (-5000)", method, path)
        self.by_route[key] += 1
