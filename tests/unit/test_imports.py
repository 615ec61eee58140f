"""The shape of the package's imports: no import circles, route modules imported only by the
app factories (the Lambda handlers and the local stack's app, both outside the package), ports
that do not know their adapters."""

from __future__ import annotations

import ast
from pathlib import Path

import engram

PACKAGE = Path(engram.__file__).parent
ROOT = PACKAGE.parents[2]
ROOT_MODULE = "engram.wiring"  # the composition root imports everything, inside its builders
PORTS = ("engram.search.index", "engram.search.embedder", "engram.extraction.extractor")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.Module, module_level: bool) -> set[str]:
    """Imported names: from the module's own statements (if/try blocks included, the
    TYPE_CHECKING ones not), or from anywhere in it."""
    if module_level:
        nodes: list[ast.AST] = []
        todo: list[ast.AST] = list(tree.body)
        while todo:
            node = todo.pop()
            nodes.append(node)
            if isinstance(node, ast.If | ast.Try) and not _is_type_checking(node):
                todo += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
                for handler in getattr(node, "handlers", []):
                    todo += handler.body
    else:
        nodes = list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return names


def _graph(module_level: bool, leave_out: tuple[str, ...] = ()) -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        if name in leave_out:
            continue
        imported = _imports(ast.parse(path.read_text()), module_level)
        graph[name] = {m for m in imported if m in MODULES and m != name} - set(leave_out)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, if there is any (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_and_the_cycle_finder_see_what_they_should():
    assert len(MODULES) > 50 and "engram.memories.service" in MODULES
    assert "engram.memories.repository" in _graph(module_level=True)["engram.memories.service"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_module_level_imports_have_no_circle():
    assert _cycle(_graph(module_level=True)) is None


def test_imports_anywhere_have_no_circle_but_through_the_composition_root():
    """Deferred imports (inside functions) too: only the composition root may import a
    module that imports it back."""
    assert _cycle(_graph(module_level=False, leave_out=(ROOT_MODULE,))) is None


def test_no_module_of_the_package_imports_a_route_module():
    routes = {name for name in MODULES if name.endswith("routes") or name == "engram.health"}
    assert len(routes) >= 10
    for name in MODULES:
        imported = _imports(ast.parse(MODULES[name].read_text()), module_level=False)
        assert not imported & routes, f"{name} imports {sorted(imported & routes)}"


def test_ports_do_not_import_adapters_or_the_composition_root():
    for name in PORTS:
        imported = _imports(ast.parse(MODULES[name].read_text()), module_level=False)
        assert not {m for m in imported if m.startswith("engram.adapters")}, name
        assert ROOT_MODULE not in imported, name


def test_handlers_are_the_only_other_app_factories():
    """Lambda handlers build their function's app from its routers; nothing else in
    functions/ does anything but wire."""
    for handler in (ROOT / "functions").glob("*/handler.py"):
        text = handler.read_text()
        assert "Service(" not in text and "Repository(" not in text, handler
