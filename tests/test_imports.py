"""The package's import graph, read statically: no module imports itself back through others, and
low-level modules import no technique. Every import counts, also those inside functions and under
``TYPE_CHECKING``: an import deferred to run time is still a dependency."""
import ast
from pathlib import Path

import reportgen

PACKAGE = Path(reportgen.__file__).parent

# Cycles tolerated for now, each with why (none at present).
ALLOWED_CYCLES: list[set[str]] = []

# Modules below the techniques: what they import must not reach back up to a technique.
LOW_LEVEL = ("reportgen.optim", "reportgen.attribution", "reportgen.models", "reportgen.core.artifacts",
             "reportgen.core.batching", "reportgen.core.cache", "reportgen.core.choices", "reportgen.pictures.colour_tables",
             "reportgen.core.errors", "reportgen.models.folding", "reportgen.models.hooks", "reportgen.pictures.images", "reportgen.pictures.input_folder",
             "reportgen.core.lazy", "reportgen.pictures.render", "reportgen.core.staging")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["reportgen", *path.relative_to(PACKAGE).with_suffix("").parts]
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports. ``from package import name`` points at the
    submodule ``name`` when there is one. An import of one's own enclosing package is left out:
    Python imports it before any of its modules anyway, so it adds no order of its own."""
    known = modules()

    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(owner(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else owner(base)
                               for alias in node.names)
        graph[name] = {t for t in targets if t and t != name and not name.startswith(f"{t}.")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules, as one cycle through it."""
    order, low, stack, groups = {}, {}, [], []

    def visit(node: str) -> None:  # Tarjan's algorithm
        order[node] = low[node] = len(order)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in order:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], order[target])
        if low[node] == order[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                groups.append(set(group))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return [path_through(graph, group) for group in groups]


def path_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A cycle inside ``group``, from its first module back to it, for the failure message."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(graph[node] & group):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                frontier.append(target)
    return sorted(group)


def test_the_package_has_no_import_cycle():
    found = [cycle for cycle in cycles(import_graph()) if set(cycle) not in ALLOWED_CYCLES]
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_the_cycle_finder_finds_a_cycle_through_a_deferred_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions_and_type_checking_blocks():
    graph = import_graph()
    assert "reportgen.regress.report" in graph["reportgen.regress"]  # module level
    assert "reportgen.gallery.site" in graph["reportgen.regress.report"]  # inside write_report
    assert "reportgen.models" in graph["reportgen.techniques.base"]  # under TYPE_CHECKING


def test_low_level_modules_import_no_technique():
    def low_level(name: str) -> bool:
        return any(name == low or name.startswith(f"{low}.") for low in LOW_LEVEL)

    found = [f"{name} imports {target}" for name, targets in sorted(import_graph().items()) if low_level(name)
             for target in sorted(targets) if target.startswith("reportgen.techniques")]
    assert not found, "; ".join(found)
