"""Stores: where candles and articles are kept (embedded SQLite, InfluxDB hot store, Iceberg archive)."""
