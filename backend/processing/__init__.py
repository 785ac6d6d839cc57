"""Processing: turning bars into candles (the embedded aggregator is the oracle for the Flink job)."""
