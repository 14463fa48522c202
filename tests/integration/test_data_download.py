"""`casino-tui data download` against a loopback HTTP server laid out like data.binance.vision: files kept
only when their SHA-256 matches the .CHECKSUM file, a mismatch is exit 2 naming the file."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from casino_tui.cli import main
from casino_tui.exchange.replay.sources import open_source

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
UM = "data/futures/um"


class Server:
    """A static file server on an ephemeral loopback port that remembers the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def publish(self, url_path: str, csv_text: str, *, checksum: str | None = None) -> bytes:
        """Put a zip (and its .CHECKSUM, true unless `checksum` says otherwise) at `url_path`."""
        buffer = io.BytesIO()
        name = url_path.rsplit("/", 1)[1]
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name.replace(".zip", ".csv"), csv_text)
        data = buffer.getvalue()
        target = self.root / url_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        digest = checksum or hashlib.sha256(data).hexdigest()
        target.with_name(name + ".CHECKSUM").write_text(f"{digest}  {name}\n")
        return data


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    root = tmp_path / "www"
    root.mkdir()
    srv = Server(root)
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=10)


def klines_csv(start_ms: int, bars: int) -> str:
    rows = [
        f"{start_ms + i * 60_000},1.07,1.08,1.06,1.075,100,{start_ms + i * 60_000 + 59_999},0,1,0,0,0"
        for i in range(bars)
    ]
    return "\n".join(rows) + "\n"


def agg_csv(start_ms: int, first_id: int) -> str:
    return "\n".join(f"{first_id + i},42000.{i},0.01{i},1,1,{start_ms + i},true" for i in range(3)) + "\n"


def download(server: Server, dest: Path, *args: str) -> int:
    return main(["data", "download", *args, "--base-url", server.url, "--dest", str(dest)])


def test_monthly_klines_files_are_downloaded_verified_and_replayable(server, tmp_path, capsys):
    jan = server.publish(f"{UM}/monthly/klines/XRPUSDT/1m/XRPUSDT-1m-2024-01.zip", klines_csv(T0, 3))
    server.publish(
        f"{UM}/monthly/klines/XRPUSDT/1m/XRPUSDT-1m-2024-02.zip", klines_csv(T0 + 31 * 86_400_000, 2)
    )
    dest = tmp_path / "data"
    assert (
        download(
            server,
            dest,
            "XRPUSDT",
            "--kind",
            "klines",
            "--interval",
            "1m",
            "--from",
            "2024-01",
            "--to",
            "2024-02",
        )
        == 0
    )
    assert (dest / "XRPUSDT-1m-2024-01.zip").read_bytes() == jan
    assert (dest / "XRPUSDT-1m-2024-01.zip.CHECKSUM").is_file()
    assert "2 files verified" in capsys.readouterr().out.splitlines()[-1]
    source = open_source(sorted(dest.glob("*.zip")))
    assert source.symbols == ["XRPUSDT"] and source.interval_ms == {"XRPUSDT": 60_000}
    assert len(list(source.trades())) == 4 * 5


def test_a_range_of_part_months_takes_daily_files_around_the_whole_months(server, tmp_path):
    day = 86_400_000
    server.publish(
        f"{UM}/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-31.zip", agg_csv(T0 + 30 * day, 1)
    )
    server.publish(
        f"{UM}/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-02.zip", agg_csv(T0 + 31 * day, 10)
    )
    server.publish(
        f"{UM}/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.zip", agg_csv(T0 + 60 * day, 20)
    )
    dest = tmp_path / "data"
    assert (
        download(server, dest, "btcusdt", "--kind", "aggTrades", "--from", "2024-01-31", "--to", "2024-03-01")
        == 0
    )
    assert sorted(p.name for p in dest.glob("*.zip")) == [
        "BTCUSDT-aggTrades-2024-01-31.zip",
        "BTCUSDT-aggTrades-2024-02.zip",
        "BTCUSDT-aggTrades-2024-03-01.zip",
    ]
    assert len(list(open_source(sorted(dest.glob("*.zip"))).trades())) == 9


def test_a_checksum_mismatch_is_exit_2_naming_the_file_and_nothing_is_kept(server, tmp_path, capsys):
    server.publish(
        f"{UM}/monthly/klines/XRPUSDT/1m/XRPUSDT-1m-2024-01.zip", klines_csv(T0, 3), checksum="ab" * 32
    )
    dest = tmp_path / "data"
    assert download(server, dest, "XRPUSDT", "--interval", "1m", "--from", "2024-01") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("casino-tui: error: checksum mismatch: XRPUSDT-1m-2024-01.zip")
    assert "\n" not in err and "Traceback" not in err
    assert list(dest.iterdir()) == []


def test_a_file_already_downloaded_and_verified_is_not_fetched_again(server, tmp_path):
    server.publish(f"{UM}/monthly/klines/XRPUSDT/1m/XRPUSDT-1m-2024-01.zip", klines_csv(T0, 3))
    dest = tmp_path / "data"
    assert download(server, dest, "XRPUSDT", "--interval", "1m", "--from", "2024-01") == 0
    server.requests.clear()
    assert download(server, dest, "XRPUSDT", "--interval", "1m", "--from", "2024-01") == 0
    assert server.requests == [f"/{UM}/monthly/klines/XRPUSDT/1m/XRPUSDT-1m-2024-01.zip.CHECKSUM"]


def test_a_month_not_published_yet_is_fetched_as_its_days(server, tmp_path):
    for n in range(1, 30):  # February 2024 has 29 days
        day = f"2024-02-{n:02d}"
        server.publish(
            f"{UM}/daily/klines/ETHUSDT/5m/ETHUSDT-5m-{day}.zip",
            klines_csv(T0, 1),
        )
    dest = tmp_path / "data"
    assert download(server, dest, "ETHUSDT", "--interval", "5m", "--from", "2024-02") == 0
    assert len(list(dest.glob("ETHUSDT-5m-2024-02-*.zip"))) == 29


def test_a_file_missing_on_the_server_is_exit_2_naming_it(server, tmp_path, capsys):
    assert download(server, tmp_path / "data", "XRPUSDT", "--interval", "1m", "--from", "2024-01-05") == 2
    assert "XRPUSDT-1m-2024-01-05.zip: not on the server" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["BTCUSDT", "--from", "2024-01"], "--kind klines needs --interval"),
        (
            ["BTCUSDT", "--kind", "aggTrades", "--interval", "1m", "--from", "2024-01"],
            "--interval applies to",
        ),
        (["BTCUSDT", "--interval", "1m", "--from", "2024-02", "--to", "2024-01"], "is before --from"),
        (["BTCUSDT", "--interval", "1m", "--from", "January"], "not a date"),
        (["BTC/USDT", "--interval", "1m", "--from", "2024-01"], "not a symbol"),
    ],
)
def test_flags_that_do_not_fit_are_exit_2_in_one_line(server, tmp_path, capsys, args, message):
    assert download(server, tmp_path / "data", *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert server.requests == []
