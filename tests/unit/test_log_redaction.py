"""The redaction filter on the session's real handlers (log file, Logs-pane buffer, headless stdout as text
and as JSON): what a record carries in (API key, secret, signature, listenKey) never comes out of any."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from casino_tui.engine.logbuffer import LogFormat, LogSetup
from casino_tui.exchange.binance.signing import sign

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"
PAYLOAD = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.002&timestamp=1767225600000"
SIGNATURE = sign(SECRET, PAYLOAD)
HIDDEN = (API_KEY, SECRET, LISTEN_KEY, SIGNATURE)

log = logging.getLogger("casino.binance.rest")


class Session:
    """The headless session's handlers: log file, Logs-pane buffer and stdout (here a StringIO)."""

    def __init__(self, tmp_path: Path, stdout_format: LogFormat) -> None:
        self.log_file = tmp_path / "casino.log"
        self.stdout = io.StringIO()
        self.stdout_format = stdout_format
        with contextlib.redirect_stdout(self.stdout):
            self.logs = LogSetup(self.log_file, stdout=True, stdout_format=stdout_format)
        self.redactor = self.logs.redactor

    def outputs(self) -> dict[str, str]:
        for handler in self.logs.logger.handlers:
            handler.flush()
        return {
            "log file": self.log_file.read_text(encoding="utf-8"),
            "logs pane buffer": "\n".join(line.message for line in self.logs.buffer.lines()),
            "headless stdout": self.headless_stdout(),
        }

    def headless_stdout(self) -> str:
        text = self.stdout.getvalue()
        if self.stdout_format is LogFormat.JSON:
            # What a log shipper reads: every line one JSON object; the fields are what must be clean.
            records = [json.loads(line) for line in text.splitlines()]
            return "\n".join(f"{r['message']}\n{r.get('exception', '')}" for r in records)
        return text


@pytest.fixture(params=list(LogFormat))
def session(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Session]:
    made = Session(tmp_path, request.param)
    yield made
    made.logs.close()


def test_registered_key_secret_and_listen_key_are_hidden_from_every_handler(
    session: Session,
) -> None:
    for secret in (API_KEY, SECRET, LISTEN_KEY):
        session.redactor.add_secret(secret)

    log.warning("key %s secret %s", API_KEY, SECRET)
    log.warning("user stream up on key %s", LISTEN_KEY)
    log.warning("POST /fapi/v1/order?%s&signature=%s failed", PAYLOAD, SIGNATURE)

    for name, text in session.outputs().items():
        leaked = [s[:8] for s in HIDDEN if s in text]
        assert not leaked, f"{name} shows {leaked}:\n{text}"
        assert text.count("***") >= 4, f"{name} lost the records instead of redacting them:\n{text}"


def test_a_secret_inside_an_exception_is_hidden_from_the_logged_traceback(
    session: Session,
) -> None:
    session.redactor.add_secret(SECRET)
    try:
        raise ValueError(f"could not sign with {SECRET}")
    except ValueError:
        log.exception("signing failed")

    shown = session.outputs()
    for name in ("log file", "headless stdout"):
        assert "ValueError: could not sign with ***" in shown[name], shown[name]
        assert SECRET not in shown[name]


def test_signatures_and_listen_keys_are_hidden_by_pattern_without_being_registered(
    session: Session,
) -> None:
    log.warning("GET /fapi/v1/openOrders?timestamp=1&signature=%s -> 503", SIGNATURE)
    log.warning("connecting wss://fstream.binance.com/private/ws?listenKey=%s", LISTEN_KEY)
    log.warning('listenKey answer: {"listenKey": "%s"}', LISTEN_KEY)
    log.warning("headers {'X-MBX-APIKEY': '%s'}", API_KEY)

    for name, text in session.outputs().items():
        leaked = [s[:8] for s in HIDDEN if s in text]
        assert not leaked, f"{name} shows {leaked}:\n{text}"
        assert "signature=***" in text and "listenKey=***" in text, text
