"""TickerWire backend: domain model, sources, bus, processing, stores and pipeline wiring.

Nothing in this package imports Qt or ``app``; the desktop app reaches it through
:mod:`backend.pipeline`.
"""
