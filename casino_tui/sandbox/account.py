"""Account endpoints: positions, balances, account, configuration, leverage, brackets, fees, listenKey, SAPI.

The sim has one cross-margin USDT account with one leverage for every symbol; leverage and margin type set
here are the account configuration Binance reports back (and ACCOUNT_CONFIG_UPDATE), not inputs to the
sim's margin arithmetic.
"""

from __future__ import annotations

from casino_tui.model import Balance, Position
from casino_tui.sandbox import errors
from casino_tui.sandbox.endpoint import Call, Endpoint, Security
from casino_tui.sandbox.events import AccountConfigUpdateEvent, LeverageBody
from casino_tui.sandbox.market import mark_price
from casino_tui.sandbox.numbers import money, plain

MAINT_MARGIN_RATE = 0.004
MAX_NOTIONAL = "1000000"
MAX_LEVERAGE = 125
API_KEY_CREATED_MS = 1_735_689_600_000  # 2025-01-01, a fixed date for apiRestrictions.createTime


async def _positions(call: Call) -> dict[str, Position]:
    return {p.symbol: p for p in await call.venue.sim.positions()}


async def _position_or_flat(call: Call, symbol: str, held: dict[str, Position]) -> Position:
    if symbol in held:
        return held[symbol]
    return Position(symbol, 0.0, 0.0, await mark_price(call, symbol), 0.0)


def _figures(call: Call, p: Position) -> tuple[float, float, float]:
    """(notional, initial margin, maintenance margin) of a position at its mark."""
    notional = p.qty * p.mark_price
    return notional, abs(notional) / call.venue.leverage[p.symbol], abs(notional) * MAINT_MARGIN_RATE


async def _symbols_in_use(call: Call, held: dict[str, Position]) -> list[str]:
    """Symbols with a position or open orders, in exchangeInfo order (what the v3 endpoints list)."""
    busy = set(held) | {u.symbol for u in await call.venue.sim.open_orders()}
    return [s for s in call.venue.formats if s in busy]


async def position_risk_v2(call: Call) -> object:
    """Every symbol (or the one asked for), zero positions included, with leverage and margin type."""
    symbol = call.optional_symbol()
    held = await _positions(call)
    now = call.venue.server_ms()
    rows = []
    for s in [symbol] if symbol else list(call.venue.formats):
        p = await _position_or_flat(call, s, held)
        fmt = call.fmt(s)
        notional, _, _ = _figures(call, p)
        rows.append(
            {
                "symbol": s,
                "positionAmt": fmt.qty(p.qty),
                "entryPrice": money(p.entry_price),
                "breakEvenPrice": money(p.entry_price),
                "markPrice": money(p.mark_price),
                "unRealizedProfit": money(p.unrealized_pnl),
                "liquidationPrice": "0",
                "leverage": str(call.venue.leverage[s]),
                "maxNotionalValue": MAX_NOTIONAL,
                "marginType": call.venue.margin_type[s],
                "isolatedMargin": "0.00000000",
                "isAutoAddMargin": "false",
                "positionSide": "BOTH",
                "notional": money(notional),
                "isolatedWallet": "0",
                "updateTime": now if p.qty else 0,
            }
        )
    return rows


async def position_risk_v3(call: Call) -> object:
    """Only symbols with a position or open orders; no leverage or margin type (see symbolConfig)."""
    symbol = call.optional_symbol()
    held = await _positions(call)
    now = call.venue.server_ms()
    rows = []
    for s in await _symbols_in_use(call, held):
        if symbol and s != symbol:
            continue
        p = await _position_or_flat(call, s, held)
        notional, initial, maint = _figures(call, p)
        rows.append(
            {
                "symbol": s,
                "positionSide": "BOTH",
                "positionAmt": call.fmt(s).qty(p.qty),
                "entryPrice": money(p.entry_price),
                "breakEvenPrice": money(p.entry_price),
                "markPrice": money(p.mark_price),
                "unRealizedProfit": money(p.unrealized_pnl),
                "liquidationPrice": "0",
                "isolatedMargin": "0",
                "notional": money(notional),
                "marginAsset": "USDT",
                "isolatedWallet": "0",
                "initialMargin": money(initial),
                "maintMargin": money(maint),
                "positionInitialMargin": money(initial),
                "openOrderInitialMargin": "0",
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
                "updateTime": now,
            }
        )
    return rows


def _balance_row(b: Balance, now: int) -> dict[str, object]:
    return {
        "accountAlias": "SgsR",
        "asset": b.asset,
        "balance": money(b.wallet),
        "crossWalletBalance": money(b.wallet),
        "crossUnPnl": money(b.unrealized_pnl),
        "availableBalance": money(b.available),
        "maxWithdrawAmount": money(b.available),
        "marginAvailable": True,
        "updateTime": now,
    }


async def balance(call: Call) -> object:
    return [_balance_row(await call.venue.sim.balance(), call.venue.server_ms())]


async def account(call: Call, v3: bool) -> dict[str, object]:
    venue = call.venue
    b = await venue.sim.balance()
    held = await _positions(call)
    now = venue.server_ms()
    initial = sum(_figures(call, p)[1] for p in held.values())
    maint = sum(_figures(call, p)[2] for p in held.values())
    totals = {
        "totalInitialMargin": money(initial),
        "totalMaintMargin": money(maint),
        "totalWalletBalance": money(b.wallet),
        "totalUnrealizedProfit": money(b.unrealized_pnl),
        "totalMarginBalance": money(b.equity),
        "totalPositionInitialMargin": money(initial),
        "totalOpenOrderInitialMargin": "0.00000000",
        "totalCrossWalletBalance": money(b.wallet),
        "totalCrossUnPnl": money(b.unrealized_pnl),
        "availableBalance": money(b.available),
        "maxWithdrawAmount": money(b.available),
    }
    asset = {
        "asset": b.asset,
        "walletBalance": money(b.wallet),
        "unrealizedProfit": money(b.unrealized_pnl),
        "marginBalance": money(b.equity),
        "maintMargin": money(maint),
        "initialMargin": money(initial),
        "positionInitialMargin": money(initial),
        "openOrderInitialMargin": "0.00000000",
        "crossWalletBalance": money(b.wallet),
        "crossUnPnl": money(b.unrealized_pnl),
        "availableBalance": money(b.available),
        "maxWithdrawAmount": money(b.available),
        "marginAvailable": True,
        "updateTime": now,
    }
    positions = []
    for s in await _symbols_in_use(call, held) if v3 else list(venue.formats):
        p = await _position_or_flat(call, s, held)
        notional, pos_initial, pos_maint = _figures(call, p)
        row: dict[str, object] = {
            "symbol": s,
            "positionSide": "BOTH",
            "positionAmt": call.fmt(s).qty(p.qty),
            "unrealizedProfit": money(p.unrealized_pnl),
            "initialMargin": money(pos_initial),
            "maintMargin": money(pos_maint),
            "updateTime": now if p.qty else 0,
        }
        if v3:
            row |= {"isolatedMargin": "0", "notional": money(notional), "isolatedWallet": "0"}
        else:
            row |= {
                "positionInitialMargin": money(pos_initial),
                "openOrderInitialMargin": "0",
                "leverage": str(venue.leverage[s]),
                "isolated": venue.margin_type[s] == "isolated",
                "entryPrice": money(p.entry_price),
                "breakEvenPrice": money(p.entry_price),
                "maxNotional": MAX_NOTIONAL,
                "bidNotional": "0",
                "askNotional": "0",
            }
        positions.append(row)
    head: dict[str, object] = {} if v3 else _config(call)
    return head | totals | {"assets": [asset], "positions": positions}


async def account_v2(call: Call) -> object:
    return await account(call, v3=False)


async def account_v3(call: Call) -> object:
    return await account(call, v3=True)


def _config(call: Call) -> dict[str, object]:
    return {
        "feeTier": 0,
        "feeBurn": False,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "dualSidePosition": False,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
    }


async def account_config(call: Call) -> object:
    return _config(call)


async def symbol_config(call: Call) -> object:
    symbol = call.optional_symbol()
    venue = call.venue
    return [
        {
            "symbol": s,
            "marginType": "ISOLATED" if venue.margin_type[s] == "isolated" else "CROSSED",
            "isAutoAddMargin": False,
            "leverage": venue.leverage[s],
            "maxNotionalValue": MAX_NOTIONAL,
        }
        for s in ([symbol] if symbol else venue.formats)
    ]


async def leverage_brackets(call: Call) -> object:
    """One bracket per symbol: the sim margins every position at one maintenance rate up to one cap."""
    symbol = call.optional_symbol()

    def row(s: str) -> dict[str, object]:
        bracket = {
            "bracket": 1,
            "initialLeverage": MAX_LEVERAGE,
            "notionalCap": int(MAX_NOTIONAL),
            "notionalFloor": 0,
            "maintMarginRatio": MAINT_MARGIN_RATE,
            "cum": 0,  # an int: the single-symbol form is typed so (Notional-and-Leverage-Brackets)
        }
        return {"symbol": s, "brackets": [bracket]}

    return row(symbol) if symbol else [row(s) for s in call.venue.formats]


async def commission_rate(call: Call) -> object:
    """The sim's maker and taker fees. RPI orders are post-only makers, so their rate is the maker fee
    (the sandbox refuses timeInForce=RPI; the rate is reported because Binance always reports it)."""
    maker, taker = call.venue.commission_rates()
    return {
        "symbol": call.symbol(),
        "makerCommissionRate": plain(maker),
        "takerCommissionRate": plain(taker),
        "rpiCommissionRate": plain(maker),
    }


async def position_mode(call: Call) -> object:
    return {"dualSidePosition": False}


async def set_leverage(call: Call) -> object:
    symbol = call.symbol()
    leverage = call.integer("leverage")
    if not 1 <= leverage <= MAX_LEVERAGE:
        raise errors.ApiError(-4028, f"Leverage {leverage} is not valid")
    venue = call.venue
    venue.leverage[symbol] = leverage
    now = venue.server_ms()
    venue.user_feed.publish(
        AccountConfigUpdateEvent(
            event_time=now, transaction_time=now, leverage=LeverageBody(symbol=symbol, leverage=leverage)
        )
    )
    return {"leverage": leverage, "maxNotionalValue": MAX_NOTIONAL, "symbol": symbol}


async def set_margin_type(call: Call) -> object:
    symbol = call.symbol()
    wanted = {"ISOLATED": "isolated", "CROSSED": "cross"}.get(call.text("marginType").upper())
    if wanted is None:
        raise errors.illegal_param("marginType")
    venue = call.venue
    if venue.margin_type[symbol] == wanted:
        raise errors.ApiError(-4046, "No need to change margin type.")
    if any(p.symbol == symbol for p in await venue.sim.positions()):
        raise errors.ApiError(-4048, "Margin type cannot be changed if there exists position.")
    if await venue.sim.open_orders(symbol):
        raise errors.ApiError(-4047, "Margin type cannot be changed if there exists open orders.")
    venue.margin_type[symbol] = wanted
    return {"code": 200, "msg": "success"}


# -- user data stream keys (USER_STREAM: API key only) --------------------------------------------------


async def create_listen_key(call: Call) -> object:
    return {"listenKey": call.venue.listen_keys.create()}


async def keepalive_listen_key(call: Call) -> object:
    keys = call.venue.listen_keys
    key = call.optional("listenKey") or next(iter(keys.active()), "")
    return {"listenKey": keys.keepalive(key)}


async def close_listen_key(call: Call) -> object:
    venue = call.venue
    named = call.optional("listenKey")
    for key in [named] if named else venue.listen_keys.active():
        venue.listen_keys.close(key)
        venue.user_feed.close_key(key)
    return {}


async def api_restrictions(call: Call) -> object:
    """SAPI key permissions; `enableWithdrawals` is switchable so the client's refusal can be tested."""
    return {
        "ipRestrict": False,
        "createTime": API_KEY_CREATED_MS,
        "enableReading": True,
        "enableWithdrawals": call.venue.withdrawals_enabled,
        "enableInternalTransfer": False,
        "permitsUniversalTransfer": False,
        "enableMargin": False,
        "enableFutures": True,
        "enablePortfolioMarginTrading": False,
        "enableVanillaOptions": False,
        "enableSpotAndMarginTrading": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
    }


ENDPOINTS = [
    Endpoint("GET", "/fapi/v2/positionRisk", Security.SIGNED, position_risk_v2),
    Endpoint("GET", "/fapi/v3/positionRisk", Security.SIGNED, position_risk_v3),
    Endpoint("GET", "/fapi/v2/balance", Security.SIGNED, balance),
    Endpoint("GET", "/fapi/v3/balance", Security.SIGNED, balance),
    Endpoint("GET", "/fapi/v2/account", Security.SIGNED, account_v2),
    Endpoint("GET", "/fapi/v3/account", Security.SIGNED, account_v3),
    Endpoint("GET", "/fapi/v1/accountConfig", Security.SIGNED, account_config),
    Endpoint("GET", "/fapi/v1/symbolConfig", Security.SIGNED, symbol_config),
    Endpoint("GET", "/fapi/v1/positionSide/dual", Security.SIGNED, position_mode),
    Endpoint("GET", "/fapi/v1/leverageBracket", Security.SIGNED, leverage_brackets),
    Endpoint("GET", "/fapi/v1/commissionRate", Security.SIGNED, commission_rate),
    Endpoint("POST", "/fapi/v1/leverage", Security.SIGNED, set_leverage),
    Endpoint("POST", "/fapi/v1/marginType", Security.SIGNED, set_margin_type),
    Endpoint("POST", "/fapi/v1/listenKey", Security.API_KEY, create_listen_key),
    Endpoint("PUT", "/fapi/v1/listenKey", Security.API_KEY, keepalive_listen_key),
    Endpoint("DELETE", "/fapi/v1/listenKey", Security.API_KEY, close_listen_key),
    Endpoint("GET", "/sapi/v1/account/apiRestrictions", Security.SIGNED, api_restrictions),
]
