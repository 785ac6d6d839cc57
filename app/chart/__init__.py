"""The candle chart: data columns, chunked plot items, time axis, news markers."""
