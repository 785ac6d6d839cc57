"""Min and max of growing numpy columns by blocks, for fitting an axis to any visible range fast (no Qt)."""

from __future__ import annotations

import numpy as np

BLOCK = 1024


class BlockExtent:
    """Min and max of a growing column by blocks of :data:`BLOCK` values (NaN ignored).

    The extent of any range then costs two short partial scans and one pass over block figures —
    so fitting the y axis to a million visible candles does not scan a million values per frame.
    """

    def __init__(self) -> None:
        self.mins = np.empty(0)
        self.maxs = np.empty(0)

    def update(self, values: np.ndarray, n: int, frm: int) -> None:
        """``values[:n]`` changed from index ``frm`` on: recompute the blocks from ``frm``'s."""
        blocks = -(-n // BLOCK)
        if len(self.mins) < blocks:
            grown = max(blocks, 2 * len(self.mins))
            self.mins = np.resize(self.mins, grown)
            self.maxs = np.resize(self.maxs, grown)
        b0 = min(frm, n) // BLOCK
        if b0 >= blocks:
            return
        seg = values[b0 * BLOCK:n]
        whole = len(seg) // BLOCK * BLOCK
        if whole:
            shaped = seg[:whole].reshape(-1, BLOCK)
            self.mins[b0:b0 + whole // BLOCK] = np.fmin.reduce(shaped, axis=1)
            self.maxs[b0:b0 + whole // BLOCK] = np.fmax.reduce(shaped, axis=1)
        if whole < len(seg):
            self.mins[blocks - 1] = np.fmin.reduce(seg[whole:])
            self.maxs[blocks - 1] = np.fmax.reduce(seg[whole:])

    def extent(self, values: np.ndarray, i0: int, i1: int) -> tuple[float, float]:
        """(min, max) over ``[i0, i1)``; NaN when every value there is NaN."""
        b0, b1 = -(-i0 // BLOCK), i1 // BLOCK
        if b1 <= b0:
            seg = values[i0:i1]
            return float(np.fmin.reduce(seg)), float(np.fmax.reduce(seg))
        parts = [values[i0:b0 * BLOCK], values[b1 * BLOCK:i1]]
        lo = float(np.fmin.reduce(self.mins[b0:b1]))
        hi = float(np.fmax.reduce(self.maxs[b0:b1]))
        for seg in parts:
            if len(seg):
                lo, hi = float(np.fmin(lo, np.fmin.reduce(seg))), float(np.fmax(hi, np.fmax.reduce(seg)))
        return lo, hi
