"""No import cycles between the project's own modules.

Every module of the four packages is parsed (not imported) and each `import` / `from ... import`
anywhere in it, inside functions too, is an edge to the most specific project module it names:
`from a.b import c` is an import of a.b.c when that is a module, else of a.b. Importing a.b.c is
not counted as importing a and a.b (Python runs their __init__ first, but a package's __init__
importing its own submodules is how packages are built, not a cycle).
"""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {  # top-level package -> its folder (as pyproject.toml's package-dir)
    "loraplane": REPO / "src" / "loraplane",
    "loraplane_core": REPO / "layers" / "core" / "loraplane_core",
    "loraplane_serving": REPO / "gpu_container" / "loraplane_serving",
    "loraplane_training": REPO / "training" / "loraplane_training",
}


def project_modules() -> dict[str, Path]:
    modules = {}
    for top, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules this module imports."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()

    def known(module: str) -> str | None:
        """The module itself, or its nearest enclosing project module (a.b.func -> a.b)."""
        while module and module not in modules:
            module = module.rpartition(".")[0]
        return module or None

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import x`: the submodule pkg.x when there is one, else a name of pkg.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES and (module := known(target)) and module != name:
                found.add(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) per strongly connected component of more than one module; the
    component's other modules, if any, follow the cycle's end."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(set(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    found = []
    for component in components:
        cycle = _cycle_in(graph, component)
        found.append(cycle + sorted(component - set(cycle)))
    return found


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself."""
    start = min(component)
    paths, seen = {start: [start]}, {start}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return paths[v] + [start]
                if w not in seen:
                    seen.add(w)
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle in {component}")


def _show(found: list[list[str]]) -> str:
    lines = []
    for c in found:
        end = c.index(c[0], 1) + 1
        lines.append(" -> ".join(c[:end]) + (f" (also in this cycle: {', '.join(c[end:])})" if c[end:] else ""))
    return "\n".join(lines)


def test_the_graph_sees_the_imports_it_should():
    graph = import_graph()
    assert "loraplane.emulator.local_aws" in graph["loraplane.emulator.server"]
    # `from . import x` of a sibling module is an import of the sibling, not of the package
    assert "loraplane.emulator.shims.aws_validation" in graph["loraplane.emulator.shims.sagemaker_runtime"]
    assert "loraplane.emulator.shims" not in graph["loraplane.emulator.shims.sagemaker_runtime"]
    # `from ... import x` two packages up; an import inside a function
    assert "loraplane.emulator.hosting" in graph["loraplane.emulator.shims.sagemaker_hosting.state"]
    assert "loraplane.emulator.hosting" in graph["loraplane.emulator.server"]
    # a package's __init__ importing its submodules is an edge too
    assert "loraplane.emulator.shims.sagemaker_hosting.routing" in graph["loraplane.emulator.shims.sagemaker_hosting"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b", "c"}, "b": {"a"}, "c": {"a"}}) == [["a", "b", "a", "c"]]


def test_no_import_cycle_in_the_emulator():
    found = [c for c in cycles(import_graph()) if any(m.startswith("loraplane.emulator") for m in c)]
    assert not found, "import cycles:\n" + _show(found)


def test_no_import_cycle_elsewhere():
    found = [c for c in cycles(import_graph()) if not any(m.startswith("loraplane.emulator") for m in c)]
    assert not found, "import cycles:\n" + _show(found)
