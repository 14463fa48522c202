"""deploy/: the Grafana dashboard and the Prometheus rules query only metrics a real engine exports, and the
systemd unit starts a headless run with flags the CLI accepts."""

from __future__ import annotations

import asyncio
import configparser
import json
import re
import shlex
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from casino_tui.cli import build_parser, refuse_inapplicable
from casino_tui.clock import ManualClock
from casino_tui.config import MetricsConfig, RuntimeConfig, load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.runtime import Runtime

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "casino-tui.json"
ALERTS = DEPLOY / "prometheus" / "casino-tui-alerts.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
UNIT = DEPLOY / "systemd" / "casino-tui.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "casino-tui.env.example"

# What the issue asks the dashboard to show, by the metric that shows it.
DASHBOARD_MUST_SHOW = {
    "casino_trades_total",
    "casino_api_errors_total",
    "casino_positions_open",
    "casino_balance_usdt",
    "casino_order_execution_duration_seconds_bucket",
    "casino_loop_lag_seconds",
    "casino_ticks_total",
    "casino_stream_age_seconds",
    "casino_breaker_state",
    "casino_used_weight_1m",
    "casino_order_headroom",
    "casino_shard_up",
    "casino_brackets",
    "casino_unprotected_positions",
    "casino_sweeps_total",
    "casino_reconcile_differences_total",
}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}


async def _scrape_a_trading_engine() -> str:
    overrides = {
        "sensors": {"executor": "inline"},
        "player": {"cooldown_s": 0.0},
        "metrics": {"enabled": True, "port": 0},
    }
    config = load_config(None, overrides, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    runtime = Runtime(config, exchange=exchange, clock=clock, use_timers=False)
    await runtime.start()
    try:
        for _ in range(20):
            await runtime.advance(60_000, step_ms=2000)
            if runtime.open_position_count:
                break
        assert runtime.metrics is not None
        async with httpx.AsyncClient() as client:
            response = await client.get(runtime.metrics.url, timeout=10)
        response.raise_for_status()
        return response.text
    finally:
        await runtime.shutdown()


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every series name a trading engine's /metrics announces (a family's HELP/TYPE counts even when it has
    no sample yet, like the breakers of the sim, which has none)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(asyncio.run(_scrape_a_trading_engine())):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords, label
    names, label values or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def test_metric_names_reads_selectors_and_skips_functions_labels_and_numbers():
    expr = (
        'histogram_quantile(0.95, sum by (le, request) (rate(casino_x_bucket{instance=~"$i"}[5m]))) '
        "* 1e6 > on (instance) casino_y == 0"
    )
    assert metric_names(expr) == {"casino_x_bucket", "casino_y"}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_every_metric_the_dashboard_queries_is_exported(exported):
    board = dashboard()
    queried = {name for p in panels() for t in p["targets"] for name in metric_names(t["expr"])}
    # A variable's `label_values(metric, label)`: the metric is the first argument.
    queried |= {
        re.fullmatch(r"label_values\((\w+), *\w+\)", var["query"]["query"]).group(1)  # type: ignore[union-attr]
        for var in board["templating"]["list"]
        if var["type"] == "query"
    }
    assert queried - exported == set()
    assert DASHBOARD_MUST_SHOW - queried == set(), "the dashboard lacks a panel for these"


def test_dashboard_panels_have_unique_ids_and_do_not_overlap():
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in board["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_metric_the_alert_rules_query_is_exported(exported):
    queried = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    # `up` is Prometheus's own series for the scrape itself.
    assert queried - exported - {"up"} == set()


@pytest.mark.parametrize(
    ("metric", "longest_for"),
    [
        ("casino_unprotected_positions", "10s"),  # an unprotected position for more than 10 s
        ("casino_breaker_state", None),
        ("casino_market_data_stale", None),
        ("casino_loop_lag_seconds", None),
    ],
)
def test_the_required_alerts_exist(metric, longest_for):
    rules = [r for r in alert_rules() if metric in metric_names(r["expr"])]
    assert rules, f"no alert on {metric}"
    for rule in rules:
        assert rule["alert"] and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        if longest_for is not None:
            assert rule["for"] == longest_for


def test_the_prometheus_config_scrapes_the_default_port_and_loads_the_rules():
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    assert [PROMETHEUS.parent / f for f in config["rule_files"]] == [ALERTS]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "casino-tui"  # the CasinoDown rule selects up{job="casino-tui"}
    assert job["static_configs"][0]["targets"] == [f"127.0.0.1:{MetricsConfig().port}"]


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_the_systemd_unit_runs_headless_with_flags_the_cli_accepts():
    argv = shlex.split(unit()["Service"]["ExecStart"])
    assert Path(argv[0]).name == "casino-tui"
    args = build_parser().parse_args(argv[1:])
    refuse_inapplicable(args, args.exchange)
    assert args.headless and args.log_format == "json"
    assert args.metrics_port == MetricsConfig().port


def test_the_systemd_unit_restarts_on_failure_but_not_on_a_configuration_error():
    service = unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"
    assert service["EnvironmentFile"].startswith("/etc/")
    # SIGTERM's orderly shutdown may wait a whole sweep deadline: systemd must not kill it first.
    assert service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > RuntimeConfig().sweep_deadline_s


def test_the_environment_file_example_is_a_valid_configuration():
    pairs = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert {"BINANCE_API_KEY", "BINANCE_API_SECRET"} <= set(pairs)
    config = load_config(None, env=pairs)
    assert config.exchange.name == pairs["CASINO_EXCHANGE_NAME"]
