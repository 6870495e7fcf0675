"""The subpackages' order (docs/architecture.md): a module imports only its own floor or lower ones.

Floors, lowest first. A module-level import that climbs fails; so does an import circle (lazy imports
included). Imports inside functions may climb only where listed in ``DEFERRED``, each
with the reason.
"""
import ast
import pathlib

import tinygraph as tg

ROOT = pathlib.Path(tg.__file__).parent

FLOORS = [
    ("tinygraph.validation", "tinygraph._moved"),
    ("tinygraph.parallel",),
    ("tinygraph.nodes",),
    ("tinygraph.inputs", "tinygraph.prediction", "tinygraph.statistics", "tinygraph.graph",
     "tinygraph.sequential", "tinygraph.render", "tinygraph.datasets", "tinygraph.generation"),
    ("tinygraph.curvature",),
    ("tinygraph.optim",),
    ("tinygraph.io",),
    ("tinygraph.training",),
    ("tinygraph.sklearn",),
]

# (importer, imported prefix): a convenience method calling up, or a module that reaches its caller's floor
DEFERRED = {
    ("tinygraph.graph", "tinygraph.curvature"): "model.gnvp/hvp/curvature call tinygraph.curvature",
    ("tinygraph.graph", "tinygraph.io"): "model.save calls tinygraph.io.format.write",
    ("tinygraph.parallel.dask", "tinygraph.training"): "tg.dask.fit drives the training loop on a cluster",
    ("tinygraph.parallel.dask", "tinygraph.optim"): "tg.dask.fit steps tinygraph's optimizers",
}


def floor(module: str) -> int:
    for i, members in enumerate(FLOORS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return i
    raise AssertionError(f"{module} has no floor: add it to FLOORS and to docs/architecture.md")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(src: str, here: str, is_package: bool = False):
    """(imported tinygraph module, at module level?) for every import in the source of module ``here``."""
    package = here if is_package else here.rsplit(".", 1)[0]
    tree = ast.parse(src)
    top = {id(n) for n in tree.body} | {id(n) for s in tree.body if isinstance(s, (ast.If, ast.Try))
                                        for n in ast.walk(s)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("tinygraph.") and not name.startswith("tinygraph._moved"):
                yield name, id(node) in top


def violations(modules) -> list:
    """Imports that climb, for (module name, source, is a package) triples."""
    wrong = []
    for here, src, is_package in modules:
        for target, at_top in imports(src, here, is_package):
            if floor(target) <= floor(here):
                continue
            allowed = not at_top and any(here == a and (target == b or target.startswith(b + "."))
                                         for a, b in DEFERRED)
            if not allowed:
                wrong.append(f"{here} imports {target} ({'module level' if at_top else 'in a function'})")
    return wrong


def package_modules():
    for path in sorted(ROOT.rglob("*.py")):
        if path != ROOT / "__init__.py":  # the public face re-exports every floor
            yield module_name(path), path.read_text(), path.name == "__init__.py"


def test_every_module_has_a_floor():
    for here, _, _ in package_modules():
        floor(here)


def test_no_module_imports_an_upper_floor():
    assert violations(package_modules()) == []


def test_no_import_circles():
    """Lazy imports included."""
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {m: {t for t, _ in imports(p.read_text(), m, p.name == "__init__.py") if t in files and t != m}
             for m, p in files.items()}
    # a package's __init__ re-exports its modules: only edges out of leaf modules can close a circle
    graph = {m: {t for t in ts if files[t].name != "__init__.py"} for m, ts in graph.items()
             if files[m].name != "__init__.py"}
    state, cycles = {}, []

    def visit(m, path):
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                cycles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_checker_catches_climbing_imports():
    """The test above can fail: each of these climbs."""
    probes = [
        ("tinygraph.nodes.probe", "from ..training import fit\n", False),
        ("tinygraph.nodes.probe", "def f():\n    from ..io.format import write\n", False),
        ("tinygraph.optim", "import tinygraph.sklearn.estimators\n", True),
        ("tinygraph.graph", "from .curvature.products import gnvp\n", False),  # deferred only
    ]
    assert violations(probes) == [
        "tinygraph.nodes.probe imports tinygraph.training (module level)",
        "tinygraph.nodes.probe imports tinygraph.io.format (in a function)",
        "tinygraph.optim imports tinygraph.sklearn.estimators (module level)",
        "tinygraph.graph imports tinygraph.curvature.products (module level)",
    ]
    assert violations([("tinygraph.graph", "def f():\n    from .curvature.products import gnvp\n", False)]) == []
