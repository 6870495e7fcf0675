"""Pictures of three models: the course net (400-25-10), a deep MLP, and a graph with a skip connection.
=====================================================================================================

Each model is drawn by ``tinygraph.render`` (node names and types, parameter shapes and the slice of
``theta`` each layer owns, array shapes on the edges) and written to ``examples/output/`` as DOT text
(``.gv``, always) and as pictures (``.svg``, ``.png``) when the system ``dot`` program is installed.
``--docs DIR`` also writes ``DIR/course_net.svg``, the picture shown in the README.
Run: ``python examples/render_graph.py [--docs docs]``.
"""
import argparse
import os
from itertools import pairwise
from pathlib import Path

import tinygraph as tg

OUT = Path(__file__).resolve().parent / "output"


def course_net():
    """The course's exercise-4 net: 20×20-pixel digits, 25 sigmoid units, 10 sigmoid outputs."""
    return tg.Sequential([tg.Dense(400, 25), tg.Sigmoid(), tg.Dense(25, 10), tg.Sigmoid(),
                          tg.CrossEntropy()], l2=1.0, random_state=0)


def deep_mlp():
    """MNIST 784-256-128-64-32-10 with ReLU hidden layers and a softmax output."""
    sizes = [784, 256, 128, 64, 32]
    layers = []
    for n_in, n_out in pairwise(sizes):
        layers += [tg.Dense(n_in, n_out), tg.ReLU()]
    return tg.Sequential(layers + [tg.Dense(sizes[-1], 10), tg.Softmax(), tg.CrossEntropy()],
                         init="he", random_state=0)


def skip_graph():
    """A residual block (Add) next to a second branch from the input (Concat)."""
    x = tg.Input(64)
    h1 = tg.ReLU()(tg.Dense(64, 32)(x))
    h2 = tg.ReLU()(tg.Dense(32, 32)(h1))
    wide = tg.Concat()(tg.Add()(h1, h2), tg.Tanh()(tg.Dense(64, 8)(x)))
    out = tg.Softmax()(tg.Dense(40, 10)(wide))
    return tg.Graph(x, tg.CrossEntropy()(out), random_state=0)


MODELS = {"course_net": course_net, "deep_mlp": deep_mlp, "skip_connection": skip_graph}


def main(out_dir=OUT, formats=("svg", "png"), docs_dir=None, rankdir="TB") -> list:
    """Write every model's DOT text and pictures; return the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in MODELS.items():
        model = build()
        dot = model.to_graphviz(rankdir=rankdir)
        (out_dir / f"{name}.gv").write_text(dot.source, encoding="utf-8")
        written.append(out_dir / f"{name}.gv")
        print(f"{name}: {model.n_params:,} parameters")
        for fmt in formats:
            try:
                model.render(out_dir / f"{name}.{fmt}", format=fmt, rankdir=rankdir)
            except tg.DotNotFoundError as err:
                print(f"  no pictures: {err}")
                break
            written.append(out_dir / f"{name}.{fmt}")
    if docs_dir is not None:
        written.append(Path(docs_dir) / "course_net.svg")
        course_net().render(written[-1], format="svg")
    for path in written:
        print("wrote", os.path.relpath(path, Path(__file__).resolve().parent.parent))  # no machine path
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--docs", default=None, help="also write DOCS/course_net.svg")
    parser.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"])
    args = parser.parse_args()
    # Quick at full size: the example gallery (TINYGRAPH_GALLERY=1) runs it as it is.
    main(docs_dir=args.docs, rankdir=args.rankdir)
