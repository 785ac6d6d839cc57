"""Demo feeds: a seedable synthetic market and a replay of recorded sessions, both in wire format."""
