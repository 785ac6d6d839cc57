"""Comparing what two charts painted, pixel by pixel."""

from __future__ import annotations

import numpy as np

#: Levels (of 255) a channel may differ by: the finished candles come from Qt's pixmap cache on one side,
#: and translucent fills blended there round differently (seen: 1 level). A stale candle, line or
#: indicator segment differs by tens to hundreds.
ROUNDING_LEVELS = 2


def channels(image) -> np.ndarray:
    """An image's pixels as an (height, width, 3) array of RGB levels."""
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB32)
    raw = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.width() * image.height())
    raw = raw.reshape(image.height(), image.width())
    return np.stack([(raw >> 16) & 255, (raw >> 8) & 255, raw & 255], axis=-1).astype(np.int16)


def differing_pixels(a, b, tolerance: int = ROUNDING_LEVELS) -> int:
    """How many pixels of two same-sized images differ by more than ``tolerance`` levels in some channel."""
    return int((np.abs(channels(a) - channels(b)).max(axis=-1) > tolerance).sum())
