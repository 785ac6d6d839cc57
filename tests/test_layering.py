"""The import rule: backend/ and stack/ never import Qt or app/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "pyqtgraph", "qasync", "app")


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("package", ["backend", "stack"])
def test_no_qt_or_app_below_the_ui(package):
    offenders = [f"{p.relative_to(REPO)} imports {name}"
                 for p in (REPO / package).rglob("*.py") for name in _imports(p)
                 if name.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders


def test_every_module_says_what_it_is_for():
    missing = [str(p.relative_to(REPO)) for pkg in ("app", "backend", "stack") for p in (REPO / pkg).rglob("*.py")
               if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None]
    assert not missing, missing
