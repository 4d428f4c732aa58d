"""Recorded Binance frames in, domain records out; malformed frames give a stable reason."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import msgspec
import pytest

import petrosa_core.binance as binance
from petrosa_core.binance import (
    DEFAULT_MAX_BYTES,
    EVENT_TYPES,
    FrameParser,
    event_type_of,
    parse_frame,
)
from petrosa_core.errors import ParseError
from petrosa_core.models import (
    MAX_TIME_MS,
    BookTicker,
    Candle,
    DepthUpdate,
    MarkPrice,
    Ticker,
    Trade,
)

EXTRA_FRAMES = Path(__file__).resolve().parents[1] / "fixtures" / "ws_frames_extra.jsonl"


def recorded_lines(shared_data: Path) -> list[bytes]:
    return (shared_data / "binance_usdm_ws_frames.jsonl").read_bytes().splitlines()


def extra_lines() -> list[bytes]:
    return EXTRA_FRAMES.read_bytes().splitlines()


def line(lines: list[bytes], number: int) -> bytes:
    """The frame on 1-based line ``number``, as ``sed -n 'Np'`` shows it."""
    return lines[number - 1]


def test_public_surface_is_pinned() -> None:
    assert sorted(binance.__all__) == [
        "DEFAULT_MAX_BYTES",
        "EVENT_TYPES",
        "FrameParser",
        "event_type_of",
        "parse_frame",
    ]
    assert EVENT_TYPES == (
        "aggTrade",
        "trade",
        "kline",
        "markPriceUpdate",
        "depthUpdate",
        "24hrTicker",
        "bookTicker",
    )
    assert DEFAULT_MAX_BYTES == 1_048_576


def test_every_recorded_frame_parses_into_its_kind(shared_data: Path) -> None:
    records = [parse_frame(raw) for raw in recorded_lines(shared_data)]
    assert len(records) == 1535
    assert Counter(event_type_of(r) for r in records) == {
        "depthUpdate": 764,
        "bookTicker": 613,
        "aggTrade": 91,
        "kline": 67,
    }
    assert Counter(type(r).__name__ for r in records) == {
        "DepthUpdate": 764,
        "BookTicker": 613,
        "Trade": 91,
        "Candle": 67,
    }


def test_event_type_of_matches_the_frame_e_field(shared_data: Path) -> None:
    for raw in recorded_lines(shared_data) + extra_lines():
        doc = json.loads(raw)
        assert event_type_of(parse_frame(raw)) == doc.get("data", doc)["e"]


def test_book_ticker_line_1(shared_data: Path) -> None:
    assert parse_frame(line(recorded_lines(shared_data), 1)) == BookTicker(
        symbol="SUSHIUSDT",
        update_id=600859600576,
        event_time=1626992741017,
        transaction_time=1626992741012,
        bid_price=7.611,
        bid_quantity=2.0,
        ask_price=7.612,
        ask_quantity=297.0,
    )


def test_book_ticker_line_48(shared_data: Path) -> None:
    assert parse_frame(line(recorded_lines(shared_data), 48)) == BookTicker(
        symbol="KEEPUSDT",
        update_id=600859632247,
        event_time=1626992742697,
        transaction_time=1626992742693,
        bid_price=0.2459,
        bid_quantity=1490.0,
        ask_price=0.2464,
        ask_quantity=317.0,
    )


def test_depth_update_line_2(shared_data: Path) -> None:
    assert parse_frame(line(recorded_lines(shared_data), 2)) == DepthUpdate(
        symbol="SUSHIUSDT",
        event_time=1626992741037,
        transaction_time=1626992741024,
        first_update_id=600859599090,
        final_update_id=600859600917,
        prev_final_update_id=600859598061,
        bids=((7.504, 813.0), (7.609, 0.0), (7.611, 2.0)),
        asks=((7.615, 1563.0), (7.622, 3284.0)),
    )


def test_depth_update_with_no_bids_line_3(shared_data: Path) -> None:
    assert parse_frame(line(recorded_lines(shared_data), 3)) == DepthUpdate(
        symbol="AKROUSDT",
        event_time=1626992741077,
        transaction_time=1626992740974,
        first_update_id=600859599831,
        final_update_id=600859599831,
        prev_final_update_id=600859598737,
        bids=(),
        asks=((0.01737, 437848.0),),
    )


def test_largest_depth_update_line_751(shared_data: Path) -> None:
    depth = parse_frame(line(recorded_lines(shared_data), 751))
    assert isinstance(depth, DepthUpdate)
    assert (depth.symbol, depth.event_time, depth.transaction_time) == (
        "SUSHIUSDT",
        1626992757348,
        1626992757338,
    )
    assert (depth.first_update_id, depth.final_update_id, depth.prev_final_update_id) == (
        600859973941,
        600859983097,
        600859973417,
    )
    assert (len(depth.bids), len(depth.asks)) == (32, 29)
    assert depth.bids[0] == (7.455, 2371.0)
    assert depth.bids[-1] == (7.614, 74.0)
    assert depth.asks[0] == (7.618, 4.0)
    assert depth.asks[-1] == (7.732, 1.0)


def test_agg_trade_line_21(shared_data: Path) -> None:
    assert parse_frame(line(recorded_lines(shared_data), 21)) == Trade(
        symbol="CTKUSDT",
        trade_type="agg",
        trade_id=16599292,
        price=1.011,
        quantity=10.0,
        trade_time=1626992741421,
        is_buyer_maker=False,
        event_time=1626992741575,
        first_trade_id=23961322,
        last_trade_id=23961322,
    )


def test_agg_trade_buyer_maker_line_37(shared_data: Path) -> None:
    assert parse_frame(line(recorded_lines(shared_data), 37)) == Trade(
        symbol="AKROUSDT",
        trade_type="agg",
        trade_id=14888302,
        price=0.01731,
        quantity=312.0,
        trade_time=1626992742134,
        is_buyer_maker=True,
        event_time=1626992742291,
        first_trade_id=27931348,
        last_trade_id=27931348,
    )


def test_agg_trade_of_several_trades_line_112(shared_data: Path) -> None:
    trade = parse_frame(line(recorded_lines(shared_data), 112))
    assert trade == Trade(
        symbol="SUSHIUSDT",
        trade_type="agg",
        trade_id=87353230,
        price=7.612,
        quantity=297.0,
        trade_time=1626992744108,
        is_buyer_maker=False,
        event_time=1626992744262,
        first_trade_id=126902924,
        last_trade_id=126902927,
    )


def test_open_kline_line_15(shared_data: Path) -> None:
    assert parse_frame(line(recorded_lines(shared_data), 15)) == Candle(
        symbol="CTKUSDT",
        interval="1m",
        open_time=1626992700000,
        close_time=1626992759999,
        open=1.01,
        high=1.011,
        low=1.01,
        close=1.011,
        volume=3917.0,
        quote_volume=3957.899,
        trade_count=48,
        taker_buy_base_volume=1729.0,
        taker_buy_quote_volume=1748.019,
        is_closed=False,
    )


def test_closed_kline_line_937(shared_data: Path) -> None:
    assert parse_frame(line(recorded_lines(shared_data), 937)) == Candle(
        symbol="SUSHIUSDT",
        interval="1m",
        open_time=1626992700000,
        close_time=1626992759999,
        open=7.608,
        high=7.618,
        low=7.607,
        close=7.617,
        volume=3005.0,
        quote_volume=22875.859,
        trade_count=113,
        taker_buy_base_volume=1900.0,
        taker_buy_quote_volume=14464.696,
        is_closed=True,
    )


def test_mark_price_envelope() -> None:
    assert parse_frame(line(extra_lines(), 1)) == MarkPrice(
        symbol="SUSHIUSDT",
        event_time=1626992742000,
        mark_price=7.6125,
        index_price=7.60871234,
        estimated_settle_price=7.61013845,
        funding_rate=0.0001,
        next_funding_time=1626998400000,
    )


def test_mark_price_bare_with_negative_funding() -> None:
    assert parse_frame(line(extra_lines(), 2)) == MarkPrice(
        symbol="CTKUSDT",
        event_time=1626992745000,
        mark_price=1.0108,
        index_price=1.00993452,
        estimated_settle_price=1.01002117,
        funding_rate=-0.00023411,
        next_funding_time=1626998400000,
    )


def test_delivery_contract_empty_funding_rate_reads_as_zero() -> None:
    assert parse_frame(line(extra_lines(), 3)) == MarkPrice(
        symbol="BTCUSDT_210924",
        event_time=1626992743000,
        mark_price=32481.9,
        index_price=32068.53214286,
        estimated_settle_price=32066.91738095,
        funding_rate=0.0,
        next_funding_time=0,
    )


def test_ticker_envelope() -> None:
    assert parse_frame(line(extra_lines(), 4)) == Ticker(
        symbol="AKROUSDT",
        event_time=1626992742512,
        price_change=0.00045,
        price_change_percent=2.666,
        weighted_avg_price=0.01712,
        last_price=0.01733,
        last_quantity=312.0,
        open_price=0.01688,
        high_price=0.01769,
        low_price=0.01651,
        volume=1874322911.0,
        quote_volume=32088476.21337,
        open_time=1626906300000,
        close_time=1626992742508,
        first_trade_id=27412077,
        last_trade_id=27931356,
        trade_count=519280,
    )


def test_ticker_bare_with_negative_change() -> None:
    assert parse_frame(line(extra_lines(), 5)) == Ticker(
        symbol="KEEPUSDT",
        event_time=1626992750871,
        price_change=-0.0082,
        price_change_percent=-3.226,
        weighted_avg_price=0.2501,
        last_price=0.246,
        last_quantity=55.0,
        open_price=0.2542,
        high_price=0.2586,
        low_price=0.2433,
        volume=12904371.0,
        quote_volume=3227683.1262,
        open_time=1626906300000,
        close_time=1626992750869,
        first_trade_id=9734010,
        last_trade_id=9791266,
        trade_count=57257,
    )


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (
            6,
            Trade("SUSHIUSDT", "raw", 126902924, 7.612, 150.0, 1626992744108, False, 1626992744262),
        ),
        (7, Trade("CTKUSDT", "raw", 23961333, 1.011, 412.0, 1626992749963, True, 1626992749970)),
        (8, Trade("KEEPUSDT", "raw", 9791200, 0.0, 0.0, 1626992752117, True, 1626992752118)),
    ],
    ids=["market", "insurance-fund", "na-sentinel"],
)
def test_raw_trades_of_every_execution_type_are_kept(number: int, expected: Trade) -> None:
    trade = parse_frame(line(extra_lines(), number))
    assert trade == expected
    assert isinstance(trade, Trade) and trade.first_trade_id is None


def test_extra_fixture_covers_the_kinds_the_recording_lacks() -> None:
    kinds = Counter(event_type_of(parse_frame(raw)) for raw in extra_lines())
    assert kinds == {"markPriceUpdate": 3, "24hrTicker": 2, "trade": 3}


def test_bare_payload_and_str_input_parse_like_the_envelope(shared_data: Path) -> None:
    for raw in recorded_lines(shared_data) + extra_lines():
        doc = json.loads(raw)
        bare = json.dumps(doc.get("data", doc))
        enveloped = json.dumps({"data": doc.get("data", doc), "stream": "x@y"})
        assert parse_frame(bare) == parse_frame(raw.decode()) == parse_frame(raw)
        assert parse_frame(enveloped.encode()) == parse_frame(raw)


def _decimal_strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _decimal_strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _decimal_strings(value)]
    return [node] if isinstance(node, str) and _is_decimal(node) else []


def _is_decimal(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _floats(node: object) -> list[float]:
    if isinstance(node, msgspec.Struct):
        node = msgspec.structs.astuple(node)
    if isinstance(node, tuple):
        return [x for value in node for x in _floats(value)]
    return [node] if isinstance(node, float) else []


def test_decimal_strings_become_floats_bit_for_bit(shared_data: Path) -> None:
    for raw in recorded_lines(shared_data):
        doc = json.loads(raw)["data"]
        doc.get("k", {}).pop("B", None)  # documented as "ignore"; a Candle does not keep it
        expected = sorted(float(s).hex() for s in _decimal_strings(doc))
        assert sorted(x.hex() for x in _floats(parse_frame(raw))) == expected


@pytest.mark.parametrize(
    "text",
    ["0.1", "1e-8", "123456789.123456789", "0.30000000000000004", "7.0385310e-26", "5e-324"],
)
def test_tricky_decimal_strings_match_float(text: str) -> None:
    trade = parse_frame(_agg(p=text))
    assert isinstance(trade, Trade)
    assert trade.price.hex() == float(text).hex()


def _agg(**changes: object) -> bytes:
    payload: dict[str, object] = {
        "e": "aggTrade",
        "E": 1626992741575,
        "a": 16599292,
        "s": "CTKUSDT",
        "p": "1.01100",
        "q": "10",
        "f": 23961322,
        "l": 23961322,
        "T": 1626992741421,
        "m": False,
    }
    payload.update(changes)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


def _kline(**changes: object) -> bytes:
    body: dict[str, object] = json.loads(
        '{"t":1626992700000,"T":1626992759999,"s":"CTKUSDT","i":"1m","f":23961275,'
        '"L":23961322,"o":"1.01000","c":"1.01100","h":"1.01100","l":"1.01000","v":"3917",'
        '"n":48,"x":false,"q":"3957.89900","V":"1729","Q":"1748.01900","B":"0"}'
    )
    body.update(changes)
    body = {k: v for k, v in body.items() if v is not None}
    data = {"e": "kline", "E": 1626992741424, "s": "CTKUSDT", "k": body}
    return json.dumps({"stream": "ctkusdt@kline_1m", "data": data}).encode()


def _depth(bids: object) -> bytes:
    data = {
        "e": "depthUpdate",
        "E": 1,
        "T": 1,
        "s": "SUSHIUSDT",
        "U": 1,
        "u": 2,
        "pu": 0,
        "b": bids,
        "a": [],
    }
    return json.dumps({"stream": "sushiusdt@depth@100ms", "data": data}).encode()


def _mark(rate: str) -> bytes:
    data = {"e": "markPriceUpdate", "E": 1, "s": "BTCUSDT", "p": "1", "i": "1", "P": "1", "T": 2}
    return json.dumps({**data, "r": rate}).encode()


MALFORMED = [
    ("invalid_json", b'{"stream":"ctkusdt@aggTrade","data":{"e":"aggTrade"', None),
    ("invalid_json", b"not json at all", None),
    ("invalid_json", b'{"e":"aggTrade","s":"\xff"}', None),
    ("invalid_json", b"", None),
    ("not_an_object", b'[{"e":"aggTrade"}]', "$"),
    ("not_an_object", b'"aggTrade"', "$"),
    ("not_an_object", b'{"stream":"ctkusdt@aggTrade","data":[1,2]}', "$"),
    ("unknown_event_type", _agg(e="forceOrder"), "e"),
    ("unknown_event_type", b'{"stream":"x","data":{"e":"ORDER_TRADE_UPDATE","E":1}}', "e"),
    ("missing_field", _agg(p=None), "p"),
    ("missing_field", _agg(e=None), "e"),
    ("missing_field", b'{"result":null,"id":1}', "e"),
    ("missing_field", _kline(Q=None), "k.Q"),
    ("wrong_type", _agg(s=123), "s"),
    ("wrong_type", _agg(m="maybe"), "m"),
    ("wrong_type", _agg(e=5), "e"),
    ("wrong_type", _agg(a=1.5), "a"),
    ("wrong_type", _kline(x="closed"), "k.x"),
    ("wrong_type", _depth([["7.5", "1", "2"]]), "b[0]"),
    ("wrong_type", _depth("7.5"), "b"),
    ("bad_value", _agg(p="abc"), "p"),
    ("bad_value", _agg(q=""), "q"),
    ("bad_value", _agg(p="1e400"), "p"),
    ("bad_value", _kline(i="7m"), "k.i"),
    ("bad_value", _depth([["7.5", "lots"]]), "b[0][1]"),
    ("bad_value", _mark("n/a"), "r"),
    ("out_of_range", _agg(T=MAX_TIME_MS + 1), "T"),
    ("out_of_range", _agg(E=-1), "E"),
    ("out_of_range", _agg(a=2**63), "a"),
    ("out_of_range", _agg(l=-(2**63) - 1), "l"),
    ("out_of_range", _kline(t=10**16), "k.t"),
    ("bad_symbol", _agg(s="ctkusdt"), "s"),
    ("bad_symbol", _agg(s=""), "s"),
    ("bad_symbol", _agg(s="A" * 5000), "s"),
    ("bad_symbol", _agg(s="BTC\u0000USDT"), "s"),
    ("bad_symbol", _agg(s="../../etc"), "s"),
    ("bad_symbol", _agg(s="ÄBCUSDT"), "s"),
    ("bad_symbol", _agg(s="BTCUSDT_"), "s"),
    ("bad_value", _agg(p="Infinity"), "p"),
    ("bad_value", _agg(p="-inf"), "p"),
    ("bad_value", _agg(p="NaN"), "p"),
    ("bad_value", _agg(p="-1"), "p"),
    ("bad_value", _agg(p="0"), "p"),
    ("bad_value", _agg(q="0"), "q"),
    ("bad_value", _kline(h="0.9"), "k"),
    ("bad_value", _kline(l="1.02"), "k"),
    ("bad_value", _kline(V="4000"), "k"),
    ("bad_value", _kline(v="-1"), "k.v"),
    ("bad_value", _kline(T=1626992699999), "k"),
    ("bad_value", _depth([["-7.5", "1"]]), "b[0][0]"),
    ("bad_value", _depth([["7.5", "NaN"]]), "b[0][1]"),
    ("bad_value", _mark("Infinity"), "r"),
    ("too_deep", b'{"e":"aggTrade","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}", None),
    ("too_deep", b'{"data":{"e":"kline","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}", None),
    ("too_deep", b'{"e":"aggTrade","x":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001, None),
]


@pytest.mark.parametrize(("reason", "frame", "field"), MALFORMED)
def test_malformed_frames_raise_parse_error_naming_the_field(
    reason: str, frame: bytes, field: str | None
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_frame(frame)
    assert caught.value.reason == reason
    if field is not None:
        assert caught.value.detail.split(":")[0] == field


def test_times_and_ids_at_the_edges_of_what_stores_hold_are_accepted() -> None:
    trade = parse_frame(_agg(E=0, T=MAX_TIME_MS, a=2**63 - 1, f=-(2**63), l=-1))
    assert (trade.event_time, trade.trade_time) == (0, MAX_TIME_MS)
    assert (trade.trade_id, trade.first_trade_id, trade.last_trade_id) == (2**63 - 1, -(2**63), -1)


def test_missing_field_detail_is_exact() -> None:
    with pytest.raises(ParseError) as caught:
        parse_frame(_kline(q=None))
    assert (caught.value.reason, caught.value.detail) == ("missing_field", "k.q: missing")
    assert str(caught.value) == "missing_field: k.q: missing"


def test_oversize_frame_is_refused_before_decoding() -> None:
    frame = line(extra_lines(), 1)
    assert FrameParser(max_bytes=len(frame)).parse(frame) == parse_frame(frame)
    with pytest.raises(ParseError) as caught:
        FrameParser(max_bytes=len(frame) - 1).parse(frame)
    assert caught.value.reason == "oversize"
    assert caught.value.detail == f"{len(frame)} bytes exceeds the {len(frame) - 1} limit"


def test_default_limit_refuses_a_frame_over_one_mebibyte() -> None:
    # Valid JSON padded with whitespace: only its size is wrong.
    frame = _agg() + b" " * DEFAULT_MAX_BYTES
    with pytest.raises(ParseError) as caught:
        parse_frame(frame)
    assert caught.value.reason == "oversize"


def test_str_size_is_counted_in_utf8_bytes() -> None:
    frame = '{"e":"aggTrade","junk":"' + "\u20ac" * 40 + '"}'
    assert (len(frame), len(frame.encode())) == (66, 146)
    with pytest.raises(ParseError) as caught:
        FrameParser(max_bytes=100).parse(frame)
    assert caught.value.reason == "oversize"


def test_max_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        FrameParser(max_bytes=0)


def test_bare_payload_with_a_nested_data_key_is_not_taken_for_an_envelope() -> None:
    trade = parse_frame(_agg(extra={"data": {"e": "kline"}}))
    assert isinstance(trade, Trade)
    assert (trade.trade_id, trade.price) == (16599292, 1.011)
