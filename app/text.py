"""Plain text in Qt's rich-text places: tooltips and labels show text literally, whatever characters it holds.

Qt renders a tooltip (and a label in the default ``AutoText`` format) as HTML when the text
*looks* like HTML — so a headline containing ``<img …>`` would become an image. Every text that
comes from outside (articles, source errors) goes through these helpers.
"""

from __future__ import annotations

from html import escape

from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def rich_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as written (escaped, one line per line: no narrow wrapping)."""
    return QtGui.Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNoWrap)


def plain_label(text: str = "", parent=None) -> QLabel:
    """A QLabel that always shows its text literally."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def html(text: str) -> str:
    """``text`` escaped for use inside a rich-text string."""
    return escape(text, quote=True)
