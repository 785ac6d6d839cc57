"""Benchmarks (run with ``python -m bench``); figures go to bench/results/ and the README."""
