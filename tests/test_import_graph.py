"""No import cycles inside keras_sanitize, and the core imports in one direction.

Every ``import`` counts, including the ones inside functions (a lazy import is
how a cycle hides); only ``if TYPE_CHECKING:`` blocks are left out. A package's
``__init__`` importing its own submodules is the normal shape of a package and
is not followed back from the submodule (importing ``a.b`` names ``a.b``).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "keras_sanitize"
#: the core, in the only order its modules may import each other
CORE = ("errors", "codes", "upload", "findings", "stage", "registry", "policy", "pipeline", "config")


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, mods: dict[str, Path]) -> dict[str, int]:
    edges: dict[str, int] = {}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    todo: list[ast.AST] = [ast.parse(path.read_text("utf-8"))]
    while todo:
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                todo.extend(child.orelse)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name in mods:
                        edges.setdefault(alias.name, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    pkg = package
                    for _ in range(child.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    base = f"{pkg}.{base}" if base else pkg
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    target = sub if sub in mods else base
                    if target in mods and target != name:
                        edges.setdefault(target, child.lineno)
            todo.append(child)
    return edges


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported package module: first line}."""
    mods = _modules()
    return {name: _imports(name, path, mods) for name, path in mods.items()}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root, edges in graph.items():
        if root in index:
            continue
        work = [(root, iter(edges))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_cycles_inside_the_package() -> None:
    graph = import_graph()
    found = cycles(graph)
    lines = [
        f"{a}:{line} imports {b}"
        for comp in found
        for a in comp
        for b, line in graph[a].items()
        if b in comp
    ]
    assert not found, "import cycles:\n" + "\n".join(lines)


def test_the_detector_finds_a_cycle() -> None:
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def test_core_imports_in_one_direction() -> None:
    graph = import_graph()
    rank = {f"keras_sanitize.{m}": i for i, m in enumerate(CORE)}
    wrong = [
        f"{mod}:{line} imports {dep}"
        for mod, r in rank.items()
        for dep, line in graph[mod].items()
        if dep.startswith("keras_sanitize.") and rank.get(dep, len(CORE)) >= r
    ]
    assert not wrong, f"the core imports {' -> '.join(CORE)} only:\n" + "\n".join(wrong)
