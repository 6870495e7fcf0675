"""The package layout: nodes in ``tinygraph.nodes``, and no import circles (lazy imports included)."""
import ast
import pathlib

import tinygraph as tg

ROOT = pathlib.Path(tg.__file__).parent


def _module(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set:
    """Every tinygraph module this file imports, at the top or inside a function."""
    here = _module(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.startswith("tinygraph"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tinygraph"))
    return found


def test_no_import_circles():
    files = {_module(p): p for p in ROOT.rglob("*.py")}
    graph = {m: {t for t in _imports(p) if t in files and t != m} for m, p in files.items()}
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


def test_nodes_live_in_the_nodes_package_and_stay_public():
    for name in ("Dense", "Sigmoid", "Tanh", "ReLU", "Softmax", "Identity", "Add", "Concat",
                 "CrossEntropy", "MeanSquaredError", "Loss", "Input", "Node"):
        cls = getattr(tg, name)
        assert cls.__module__.startswith("tinygraph.nodes."), (name, cls.__module__)
        assert getattr(tg.nodes, name) is cls


def test_input_takes_an_int_or_a_tuple_and_checks_x_against_it():
    import numpy as np
    import pytest

    assert tg.Input(5).shape == (5,) and tg.Input((1, 28, 28)).shape == (1, 28, 28)
    assert tg.Input((1, 28, 28)).n_features == 784
    for bad in (0, (3, 0), (), "3", (2.5,), True):
        with pytest.raises(ValueError, match="Input: the feature shape"):
            tg.Input(bad)
    model = tg.Sequential([tg.Tanh(), tg.Tanh()], input_shape=(2, 3))
    assert model.forward(np.zeros((4, 2, 3))).shape == (4, 2, 3)
    with pytest.raises(ValueError, match=r"input: expects X of shape \(N, 2, 3\), got \(4, 3, 2\)"):
        model.forward(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match=r"dense1: expects inputs of shape \(N, n_in\).*got \(N, 1, 2, 3\)"):
        tg.Sequential([tg.Dense(4)], input_shape=(1, 2, 3))
