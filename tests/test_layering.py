"""The import rules: backend/ and stack/ never import Qt or app/; the storage, bus and wire-format layers import
nothing of the backend but the model, time utilities and their own package; stack/ has no import cycles, its
types sit at the bottom and its plan is pure."""

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


# --- stack/: layers without cycles --------------------------------------------------------------------------------

STACK = REPO / "stack"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stack_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in STACK.rglob("*.py")}


def _all_imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (``from a import b`` counts ``a.b`` too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _stack_graph() -> dict[str, set[str]]:
    modules = _stack_modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _all_imports(path):
            if imported in modules:
                targets.add(imported)
        # "from stack.plan import archive" names the submodule: the package itself is not a dependency then
        graph[name] = {t for t in targets if not any(o != t and o.startswith(t + ".") for o in targets)
                       or t not in _packages(modules)} - {name}
    return graph


def _packages(modules: dict[str, Path]) -> set[str]:
    return {name for name, path in modules.items() if path.name == "__init__.py"}


def test_stack_has_no_import_cycles():
    graph = _stack_graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(module: str, path: tuple[str, ...]) -> None:
        if state.get(module) == "done":
            return
        if state.get(module) == "visiting":
            cycles.append(" -> ".join((*path[path.index(module):], module)))
            return
        state[module] = "visiting"
        for target in sorted(graph.get(module, ())):
            visit(target, (*path, module))
        state[module] = "done"

    for module in sorted(graph):
        visit(module, ())
    assert not cycles, cycles


def test_the_stacks_types_are_at_the_bottom_and_the_plan_is_pure():
    import sys

    types_imports = {name.split(".")[0] for name in _all_imports(STACK / "types.py")}
    assert types_imports <= set(sys.stdlib_module_names) | {"__future__"}, types_imports
    for path in (STACK / "plan").rglob("*.py"):
        for name in _all_imports(path):
            assert name.split(".")[0] not in ("docker", "requests", "confluent_kafka", "keyring"), (path, name)
            assert not name.startswith(("stack.apply", "stack.build", "stack.engine", "stack.docker_backend",
                                        "stack.supervisor", "stack.credentials", "stack.repo")), (path, name)


def test_nothing_in_stack_reaches_into_the_kafka_client_module():
    offenders = [str(p.relative_to(REPO)) for p in STACK.rglob("*.py")
                 if any(n == "backend.bus.kafka" or n.startswith("backend.bus.kafka.") for n in _all_imports(p))]
    assert not offenders, offenders
    topics = _all_imports(REPO / "backend" / "bus" / "topics.py")
    assert not [n for n in topics if n.split(".")[0] in ("confluent_kafka", "backend")], topics
