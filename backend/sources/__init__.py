"""Sources: where raw wire-format messages come from (demo feeds, Polygon/Massive, Guardian)."""
