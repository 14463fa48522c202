"""HMAC signing against Binance's published known-answer vector, and secrets that never show."""

from __future__ import annotations

import logging

from casino_tui.exchange.binance.signing import (
    Credentials,
    SecretFilter,
    encode_params,
    install_secret_filter,
    redact,
    remove_secret_filter,
    sign,
)

# BINANCE.md §2, "SIGNED Endpoint Examples for POST /fapi/v1/order - HMAC Keys", Example 1.
KAT_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
KAT_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
KAT_PAYLOAD = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
KAT_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_known_answer_example_1_matches_exactly() -> None:
    assert sign(KAT_SECRET, KAT_PAYLOAD) == KAT_SIGNATURE


def test_encoded_params_in_given_order_reproduce_the_known_answer() -> None:
    params = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("quantity", "1"),
        ("price", "9000"),
        ("timeInForce", "GTC"),
        ("recvWindow", 5000),
        ("timestamp", 1591702613943),
    ]
    encoded = encode_params(params)
    assert encoded == KAT_PAYLOAD
    assert Credentials(KAT_KEY, KAT_SECRET).signed(encoded) == f"{KAT_PAYLOAD}&signature={KAT_SIGNATURE}"


def test_signature_is_the_last_parameter() -> None:
    signed = Credentials("k", "s").signed("a=1&b=2")
    assert signed.rsplit("&", 1)[1].startswith("signature=")
    assert signed.startswith("a=1&b=2&")


def test_server_signs_bytes_as_sent_so_parameter_order_changes_the_signature() -> None:
    reordered = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=9000&recvWindow=5000"
        "&timestamp=1591702613943"
    )
    assert sign(KAT_SECRET, reordered) == "ec11dcc17e67e47f0d3c3f513dfe9062307e37619c5c82ebaa8fe0bdf3d59519"


def test_query_and_body_concatenate_without_separator() -> None:
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
    assert (
        sign(KAT_SECRET, query + body) == "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"
    )


def test_booleans_encode_as_lowercase_words_and_client_id_characters_stay_readable() -> None:
    encoded = encode_params({"reduceOnly": True, "closePosition": False, "newClientOrderId": "cas.B:1/x_y-z"})
    assert encoded == "reduceOnly=true&closePosition=false&newClientOrderId=cas.B:1/x_y-z"


def test_unsafe_characters_are_percent_encoded() -> None:
    assert encode_params({"batchOrders": '[{"a":1}]'}) == "batchOrders=%5B%7B%22a%22:1%7D%5D"


def test_credentials_repr_and_str_hide_key_and_secret() -> None:
    creds = Credentials(KAT_KEY, KAT_SECRET)
    for text in (repr(creds), str(creds), f"{creds}"):
        assert KAT_SECRET not in text
        assert KAT_KEY not in text


def test_redact_replaces_every_secret() -> None:
    text = f"key={KAT_KEY} secret={KAT_SECRET} sig={KAT_SIGNATURE}"
    clean = redact(text, (KAT_KEY, KAT_SECRET, KAT_SIGNATURE))
    assert KAT_KEY not in clean and KAT_SECRET not in clean and KAT_SIGNATURE not in clean
    assert clean.count("***") == 3


def test_secret_filter_scrubs_signature_listen_key_and_secrets_from_wire_logs(caplog) -> None:
    secret_filter = SecretFilter()
    secret_filter.add(KAT_SECRET)
    install_secret_filter(secret_filter, ("httpx",))
    try:
        with caplog.at_level(logging.INFO, logger="httpx"):
            logging.getLogger("httpx").info(
                'HTTP Request: GET http://127.0.0.1/fapi/v1/order?symbol=X&signature=%s "200"', KAT_SIGNATURE
            )
            logging.getLogger("httpx").info("ws /private/ws?listenKey=pqia91ma19a5s61cv6a81va65sdf19v8a65a1")
            logging.getLogger("httpx").info("oops %s", KAT_SECRET)
    finally:
        remove_secret_filter(secret_filter, ("httpx",))
    logged = caplog.text
    assert KAT_SIGNATURE not in logged
    assert "pqia91ma19a5s61cv6a81va65sdf19v8a65a1" not in logged
    assert KAT_SECRET not in logged
    assert "signature=***" in logged and "listenKey=***" in logged
