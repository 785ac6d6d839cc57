"""The import rules: backend/ and stack/ never import Qt or app/; the storage, bus and wire-format layers import
nothing of the backend but the model, time utilities and their own package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "pyqtgraph", "qasync", "app")


def _imports(path: Path):
    """Every import of a module, at module level or inside a function (a lazy import is still a dependency)."""
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


#: Low layers and what of ``backend`` each may import besides itself.
LOW_LAYERS = {"stores": ("backend.model", "backend.timeutil"),
              "bus": ("backend.model", "backend.timeutil"),
              "wire": ("backend.model", "backend.timeutil")}


@pytest.mark.parametrize("layer", sorted(LOW_LAYERS))
def test_low_layers_import_only_the_model_and_time_utilities(layer):
    allowed = (f"backend.{layer}", *LOW_LAYERS[layer])
    offenders = [f"{p.relative_to(REPO)} imports {name}"
                 for p in (REPO / "backend" / layer).rglob("*.py") for name in _imports(p)
                 if name.startswith("backend") and not name.startswith(allowed)]
    assert not offenders, offenders
