"""TickerWire desktop app (PySide6, pyqtgraph, qasync). Reaches the backend only through facades."""
