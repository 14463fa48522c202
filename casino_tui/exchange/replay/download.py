"""`casino-tui data download`: Binance public data files for USDⓈ-M futures (the data.binance.vision layout)
with their `.CHECKSUM` files; a file is kept only once its SHA-256 matches.

Whole months inside the range come as monthly files, the days around them as daily files; a month whose
monthly file is not published yet (the current one) falls back to its daily files. Files land flat in the
destination directory under their Binance names, which `casino-tui replay` reads the symbol and interval from.
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import msgspec
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from casino_tui.exchange.replay.binance_files import INTERVAL_MS, DataKind

DEFAULT_BASE_URL = "https://data.binance.vision"
ATTEMPTS = 3  # transport errors and 5xx answers are tried again; a 404 or a bad checksum is not
CHUNK_BYTES = 1 << 20
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class DownloadError(Exception):
    """The download cannot go on (a missing file, a bad checksum, a server that fails): one line, exit 2."""


class ChecksumMismatchError(DownloadError):
    """A file's SHA-256 is not the one its `.CHECKSUM` file states: the file is not kept."""


class _ServerError(Exception):
    """A 5xx answer, worth another try."""


class DataFile(msgspec.Struct, frozen=True):
    """One file of the data.binance.vision layout: a month's or a day's klines or aggTrades of a symbol."""

    symbol: str
    kind: DataKind
    interval: str | None  # klines only
    period: str  # "2024-01" (monthly) or "2024-01-02" (daily)

    @property
    def is_monthly(self) -> bool:
        return len(self.period) == 7

    @property
    def name(self) -> str:
        what = self.interval if self.kind is DataKind.KLINES else "aggTrades"
        return f"{self.symbol}-{what}-{self.period}.zip"

    @property
    def url_path(self) -> str:
        cadence = "monthly" if self.is_monthly else "daily"
        folder = f"{self.symbol}/{self.interval}" if self.kind is DataKind.KLINES else self.symbol
        return f"data/futures/um/{cadence}/{self.kind}/{folder}/{self.name}"


def parse_day(text: str, *, last: bool = False) -> date:
    """`2024-01-02`, or `2024-01` for that month's first day (its last with `last=True`)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}", text):
            year, month = int(text[:4]), int(text[5:])
            day = calendar.monthrange(year, month)[1] if last else 1
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use 2024-01-02 or 2024-01)") from None


def month_days(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def plan_files(symbol: str, kind: DataKind, interval: str | None, first: date, last: date) -> list[DataFile]:
    """Monthly files for the months wholly inside `first..last`, daily files for the other days."""
    files: list[DataFile] = []
    day = first
    while day <= last:
        start, end = month_days(day.year, day.month)
        if day == start and end <= last:
            files.append(DataFile(symbol, kind, interval, f"{day:%Y-%m}"))
            day = end + timedelta(days=1)
        else:
            files.append(DataFile(symbol, kind, interval, f"{day:%Y-%m-%d}"))
            day += timedelta(days=1)
    return files


def daily_files(monthly: DataFile) -> list[DataFile]:
    """The daily files that make up a monthly file's month."""
    start, end = month_days(int(monthly.period[:4]), int(monthly.period[5:]))
    return [
        DataFile(monthly.symbol, monthly.kind, monthly.interval, f"{start + timedelta(days=n):%Y-%m-%d}")
        for n in range((end - start).days + 1)
    ]


class Downloader:
    """Fetches data files and their checksums from `base_url` into `dest`, verifying every file."""

    def __init__(
        self,
        base_url: str,
        dest: Path,
        *,
        client: httpx.Client | None = None,
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.dest = dest
        self._client = client or httpx.Client(timeout=httpx.Timeout(30.0), follow_redirects=True)
        self._report = report

    def close(self) -> None:
        self._client.close()

    def download(self, files: list[DataFile]) -> list[Path]:
        """Fetch each file (a monthly file not yet published: its days instead); returns the files kept."""
        self.dest.mkdir(parents=True, exist_ok=True)
        kept: list[Path] = []
        for data_file in files:
            kept.extend(self._fetch_or_split(data_file))
        return kept

    def _fetch_or_split(self, data_file: DataFile) -> Iterator[Path]:
        expected = self._checksum(data_file)
        if expected is None and data_file.is_monthly:
            self._report(f"{data_file.name}: not published yet, fetching its days")
            for day in daily_files(data_file):
                yield self._fetch(day, self._checksum(day))
            return
        yield self._fetch(data_file, expected)

    def _checksum(self, data_file: DataFile) -> str | None:
        """The SHA-256 the `.CHECKSUM` file states, or None if the server has no such file."""
        response = self._get(f"{data_file.url_path}.CHECKSUM")
        if response is None:
            return None
        digest = response.text.split(maxsplit=1)[0] if response.text.strip() else ""
        if not _SHA256.match(digest):
            raise DownloadError(f"{data_file.name}.CHECKSUM: not a SHA-256 checksum file")
        return digest.lower()

    def _fetch(self, data_file: DataFile, expected: str | None) -> Path:
        if expected is None:
            raise DownloadError(f"{data_file.name}: not on the server ({self.base_url}/{data_file.url_path})")
        target = self.dest / data_file.name
        if target.is_file() and _sha256_of(target) == expected:
            self._report(f"{data_file.name}: already here, checksum verified")
            return target
        partial = target.with_name(target.name + ".part")
        digest = self._stream_to(f"{data_file.url_path}", partial, data_file)
        if digest != expected:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"checksum mismatch: {data_file.name} (SHA-256 {digest}, its .CHECKSUM says {expected}); not kept"
            )
        partial.replace(target)
        target.with_name(target.name + ".CHECKSUM").write_text(f"{expected}  {data_file.name}\n")
        self._report(f"{data_file.name}: downloaded, checksum verified")
        return target

    def _stream_to(self, url_path: str, partial: Path, data_file: DataFile) -> str:
        for attempt in _retrying():
            with attempt:
                sha = hashlib.sha256()
                with self._client.stream("GET", f"{self.base_url}/{url_path}") as response:
                    if response.status_code == 404:
                        raise DownloadError(f"{data_file.name}: not on the server ({response.url})")
                    _check_status(response)
                    with partial.open("wb") as out:
                        for chunk in response.iter_bytes(CHUNK_BYTES):
                            sha.update(chunk)
                            out.write(chunk)
                return sha.hexdigest()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _get(self, url_path: str) -> httpx.Response | None:
        """A small file, or None for a 404."""
        for attempt in _retrying():
            with attempt:
                response = self._client.get(f"{self.base_url}/{url_path}")
                if response.status_code == 404:
                    return None
                _check_status(response)
                return response
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def _retrying() -> Retrying:
    return Retrying(
        retry=retry_if_exception_type((httpx.TransportError, _ServerError)),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=0.5, max=4.0),
        reraise=True,
    )


def _check_status(response: httpx.Response) -> None:
    if response.status_code >= 500:
        raise _ServerError(f"{response.url}: HTTP {response.status_code}")
    if response.status_code != 200:
        raise DownloadError(f"{response.url}: HTTP {response.status_code}")


def _sha256_of(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            sha.update(chunk)
    return sha.hexdigest()


# ---- the command ------------------------------------------------------------------------------------------------


def add_download_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("symbols", nargs="+", metavar="SYMBOL", help="e.g. BTCUSDT ETHUSDT")
    parser.add_argument("--kind", choices=[k.value for k in DataKind], default=DataKind.KLINES.value)
    parser.add_argument("--interval", choices=list(INTERVAL_MS), help="klines interval, e.g. 1m")
    parser.add_argument("--from", dest="first", required=True, metavar="DAY", help="2024-01-02 or 2024-01")
    parser.add_argument("--to", dest="last", metavar="DAY", help="2024-01-31 or 2024-01 (default: --from)")
    parser.add_argument(
        "--dest", type=Path, default=Path("binance-data"), metavar="DIR", help="default: ./binance-data"
    )
    parser.add_argument(
        "--base-url", default=DEFAULT_BASE_URL, metavar="URL", help=f"default: {DEFAULT_BASE_URL}"
    )


def plan_from_args(args: argparse.Namespace) -> list[DataFile]:
    """The files the command line asks for; ValueError for flags that do not fit together."""
    kind = DataKind(args.kind)
    if kind is DataKind.KLINES and args.interval is None:
        raise ValueError("--kind klines needs --interval (e.g. 1m)")
    if kind is DataKind.AGG_TRADES and args.interval is not None:
        raise ValueError("--interval applies to --kind klines only")
    first = parse_day(args.first)
    last = parse_day(args.last or args.first, last=True)
    if last < first:
        raise ValueError(f"--to {args.last} is before --from {args.first}")
    files: list[DataFile] = []
    for raw in args.symbols:
        symbol = raw.upper()
        if not _SYMBOL.match(symbol):
            raise ValueError(f"not a symbol: {raw!r}")
        files.extend(plan_files(symbol, kind, args.interval, first, last))
    return files


def run_download(args: argparse.Namespace, report: Callable[[str], None] = print) -> int:
    """Download what `args` asks for; raises ValueError (bad flags) or DownloadError (one line each)."""
    files = plan_from_args(args)
    downloader = Downloader(args.base_url, args.dest, report=report)
    try:
        kept = downloader.download(files)
    except httpx.HTTPError as exc:
        raise DownloadError(f"{args.base_url}: {type(exc).__name__}: {exc}") from None
    except OSError as exc:
        raise DownloadError(f"cannot write to {args.dest}: {exc.strerror}") from None
    finally:
        downloader.close()
    report(f"{len(kept)} files verified in {args.dest}")
    return 0
