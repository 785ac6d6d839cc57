"""Line protocol and Flux text of the InfluxDB store, checked without a server (the server tests are in integration)."""

from __future__ import annotations

import pytest

from backend.model import Article, Candle, Timeframe
from backend.stores.influx_lines import UnencodablePoint, article_lines, candle_line, line_time_ms
from backend.stores.influx_queries import (
    FluxError,
    candles_query,
    csv_rows,
    flux_string,
    flux_time,
    parse_news,
    parse_time_ms,
)

T = 1_748_871_000_123  # 2025-06-02T13:30:00.123Z


def test_candle_line_uses_milliseconds_and_integer_trades():
    line = candle_line(Candle("BRK.B", Timeframe.M5, T, 1.5, 2.0, 1.0, 1.75, 1_000.0, 1.6, 12))

    assert line == ("candles,symbol=BRK.B,timeframe=5m "
                    "open=1.5,high=2.0,low=1.0,close=1.75,volume=1000.0,vwap=1.6,trades=12i 1748871000123")
    assert line_time_ms(line) == T
    assert len(str(line_time_ms(line))) == 13  # ms, not ns: fits int64 until the year 292 million


def test_non_finite_prices_are_refused_with_the_field_named():
    with pytest.raises(UnencodablePoint, match="vwap"):
        candle_line(Candle("AAPL", Timeframe.M1, T, 1, 1, 1, 1, 1, float("inf"), 1))


def test_article_lines_escape_text_and_write_one_point_per_symbol():
    article = Article("a/1", T, 'Say "hi" \\ bye', "https://x", "business", symbols=frozenset({"MSFT", "AAPL"}))

    lines = article_lines(article)

    assert [line.split(" ", 1)[0] for line in lines] == ["news,symbol=AAPL", "news,symbol=MSFT"]
    assert 'title="Say \\"hi\\" \\\\ bye"' in lines[0]
    assert all(line.endswith(f" {T}") for line in lines)


def test_article_without_symbols_is_one_untagged_point():
    assert [line.split(" ", 1)[0] for line in article_lines(Article("a", T, "t", "u", "s"))] == ["news"]


def test_flux_literals():
    assert flux_time(T, "x") == "2025-06-02T13:30:00.123Z"
    assert flux_time(None, "x") == "x"
    assert parse_time_ms("2025-06-02T13:30:00.123Z") == T
    assert parse_time_ms("2025-06-02T13:30:00Z") == T - 123
    assert flux_string('a"b\\c${d}') == '"a\\"b\\\\c\\${d}"'


def test_candles_query_moves_an_inclusive_stop_back_one_ms():
    exclusive = candles_query("db/rp", "AAPL", Timeframe.M1, T, T + 60_000)
    inclusive = candles_query("db/rp", "AAPL", Timeframe.M1, T, T + 60_000, stop_inclusive=True)

    assert "stop: 2025-06-02T13:31:00.123Z" in exclusive
    assert "stop: 2025-06-02T13:31:00.122Z" in inclusive
    # The tag filter directly follows range() so that InfluxDB pushes it down to storage.
    assert inclusive.splitlines()[2].strip().startswith('|> filter(fn: (r) => r._measurement == "candles"')


def test_csv_with_several_tables_and_an_error_table():
    text = ",result,table,_time,id,title,symbol\r\n,_result,0,2025-06-02T13:30:00Z,a,T1,AAPL\r\n\r\n" \
           ",result,table,_time,id,title,symbol,symbols\r\n,_result,1,2025-06-02T13:30:00Z,a,T1,MSFT,AAPL\x1fMSFT\r\n"
    assert [r["symbol"] for r in csv_rows(text)] == ["AAPL", "MSFT"]
    assert parse_news(text)[0].symbols == frozenset({"AAPL", "MSFT"})

    with pytest.raises(FluxError, match="boom"):
        list(csv_rows(",error,reference\r\n,boom,\r\n"))


def test_a_point_read_while_its_fields_are_still_being_written_is_skipped_not_a_crash():
    """InfluxDB keeps each field as its own series; a racing read can see only some of a point's fields."""
    from backend.model import Timeframe
    from backend.stores.influx_queries import parse_candles

    text = (",result,table,_time,open,high,low,close,volume,vwap,trades\n"
            ",_result,0,2025-02-03T14:31:00Z,1,2,0.5,1.5,10,1.2,3\n"
            "\n"
            ",result,table,_time,open,high,low\n"
            ",_result,1,2025-02-03T14:32:00Z,1,2,0.5\n")
    candles = parse_candles(text, "AAPL", Timeframe.M1)
    assert [c.start_ms for c in candles] == [1738593060000]
