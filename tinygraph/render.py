"""Drawing a model: a deterministic ``graphviz.Digraph`` first, files second.

``to_graphviz(model)`` is pure: it reads the built graph and returns a ``graphviz.Digraph`` whose
node ids are ``n0, n1, ...`` in ``model.nodes`` order (the target, if any, comes last), so the DOT
text of a model is always the same and tests can compare it. ``render(model, path, format)`` is the
impure step: it runs the system ``dot`` program and writes the file. Without ``dot`` it raises
``DotNotFoundError`` naming the package to install; the DOT text stays available (``.source``).

What a picture shows, per node: name and type; for convolutions and pools their kernel or window
and stride (``20@5×5, stride 1``) and for image outputs the shape they leave (``→ 20×24×24``); for
nodes with parameters their shapes, their count and the slice ``theta[start:stop]`` they own; on every edge the array shape flowing along it
(``N×400``, N the batch). Kinds of node are told apart by shape and colour: input and target
(parallelograms), nodes with parameters (boxes), parameter-free single-input nodes such as the
activations (ellipses), merges (hexagons) and losses (octagons). ``stats=True`` adds, from the last
``loss_and_grad`` call, the norm of the gradient of each parameter array and the mean and std of
each node's output: a sigmoid stack's vanishing gradients show up as norms shrinking towards the input.
"""
from __future__ import annotations

import math
from pathlib import Path

import graphviz
import numpy as np

from .nodes import CrossEntropy, Hinge, Input, Loss, Node

__all__ = ["DotNotFoundError", "render", "summary", "to_graphviz"]

INSTALL_HINT = ("install the system package that provides it: `apt-get install graphviz` "
                "(Debian/Ubuntu), `brew install graphviz` (macOS) or `conda install graphviz`")

# kind -> node attributes; one place, so every picture uses the same legend.
STYLES = {
    "input": {"shape": "parallelogram", "style": "filled", "fillcolor": "#cfe2ff"},
    "target": {"shape": "parallelogram", "style": "filled,dashed", "fillcolor": "#fff3bf"},
    "params": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e5dbff"},
    "frozen": {"shape": "box", "style": "rounded,filled,dashed", "fillcolor": "#f1f3f5"},
    "activation": {"shape": "ellipse", "style": "filled", "fillcolor": "#d3f9d8"},
    "merge": {"shape": "hexagon", "style": "filled", "fillcolor": "#ffe8cc"},
    "loss": {"shape": "doubleoctagon", "style": "filled", "fillcolor": "#ffc9c9"},
}
RANKDIRS = ("TB", "LR", "BT", "RL")


class DotNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program is not installed; ``.source`` holds the DOT text anyway.

    A ``RuntimeError`` raised by ``render`` (with a ``path``) and the notebook display.

    Parameters
    ----------
    message : str
        What is missing and how to install it.
    source : str
        The DOT text of the picture, kept as ``.source`` (paste it into any Graphviz viewer).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> try:                                       # doctest: +SKIP
    ...     tg.render(model, "model.svg")
    ... except tg.DotNotFoundError as error:       # no ``dot``: keep the DOT text instead
    ...     text = error.source
    >>> error = tg.DotNotFoundError("dot not found", "digraph {}")
    >>> error.source, isinstance(error, RuntimeError)
    ('digraph {}', True)
    """

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


def kind(node: Node) -> str:
    """Which legend entry a node is drawn with."""
    if isinstance(node, Input):
        return "input"
    if isinstance(node, Loss):
        return "loss"
    if node.size:
        return "params" if node.trainable else "frozen"
    if len(node.inputs) > 1 or node.n_inputs is None:
        return "merge"
    return "activation"


def shape_text(shape: tuple, batch: str = "N", time: bool = False) -> str:
    """``(400,)`` -> ``'N×400'``; the feature shape with the batch axis in front.
    ``time``: the first feature axis is a sequence's time axis, ``(28, 128)`` -> ``'N×T=28×128'``."""
    dims = [str(d) for d in shape]
    if time and dims:
        dims[0] = "T=" + dims[0]
    return "×".join([batch, *dims])


def time_axis(model) -> set:
    """The nodes whose output is a sequence (N, T, ...): what a recurrent node or an Embedding
    reads or writes, and what keeps such a shape on the way (activations, Dense over time)."""
    from .nodes import Embedding
    from .nodes.recurrent import _Recurrent

    def sequence_reader(n):
        return isinstance(n, (Embedding, _Recurrent))

    seq = set()
    for node in model.nodes:
        if isinstance(node, Input):
            if any(sequence_reader(n) and node in n.inputs for n in model.nodes):
                seq.add(node)
        elif sequence_reader(node):
            if isinstance(node, Embedding) or node.return_sequences:
                seq.add(node)
        elif any(x in seq and len(x.out_shape) == len(node.out_shape or ()) for x in node.inputs):
            seq.add(node)
    return seq


def _escape(text: str) -> str:
    # Backslashes start DOT escapes such as \n: a user's name must not produce one by accident.
    return str(text).replace("\\", "\\\\")


def _target_text(loss: Loss) -> str:
    K = loss.in_shapes[0][0]
    if isinstance(loss, CrossEntropy) and K > 1:
        return f"N or N×{K}"  # integer labels or one-hot / probability rows
    if isinstance(loss, Hinge):
        return "N"  # integer labels only
    return shape_text(loss.in_shapes[0]) if K > 1 else "N"


def _type_text(node: Node) -> str:
    name = type(node).__name__
    if isinstance(node, CrossEntropy) and node.kind is not None:
        return f"{name} ({node.kind}, fused with {node.inputs[0].name})"
    return name


def geometry_text(node: Node) -> str | None:
    """What the node says of how it slides over its input (``Node.geometry``), e.g. ``20@5×5, stride 1``."""
    return node.geometry()


def _check_stats(model) -> dict:
    acts = model.activations
    if not acts:
        raise ValueError("stats=True shows values of the last loss_and_grad call; "
                         "call model.loss_and_grad(model.theta, X, y) first")
    return acts


def node_lines(model, node: Node, stats: bool = False) -> list:
    """The text lines of one node's label (unescaped)."""
    return _lines(model, node, _check_stats(model) if stats else None)


def _lines(model, node: Node, acts: dict | None) -> list:
    """``node_lines`` with the activations (``stats``) read once per picture, not once per node."""
    lines = [node.name, _type_text(node)]
    if isinstance(node, Input):
        lines[1] = f"Input ({node.n_features} features)" if len(node.shape) == 1 else \
            "Input (" + "×".join(map(str, node.shape)) + ")"
    geometry = geometry_text(node)
    if geometry:
        lines.append(geometry)
    if len(node.out_shape or ()) > 1 and not isinstance(node, (Input, Loss)):
        lines.append("→ " + "×".join(map(str, node.out_shape)))  # images: the shape each step leaves
    if node.size:
        lines.append(", ".join(f"{p}: {'×'.join(map(str, s))}" for p, s in node.params))
        lines.append(f"{node.size:,} params" + ("" if node.trainable else " (frozen)"))
        lines.append(f"theta[{node.start}:{node.stop}]")
    if node.states:  # running statistics: in model.state, apart from the trained parameters
        lines.append("state: " + ", ".join(name for name, _ in node.states))
        lines.append(f"{node.state_size:,} values (not trained), state[{node.state_start}:{node.state_stop}]")
    if acts is not None:
        if node.size:
            lines += [f"‖d{p}‖ = {np.linalg.norm(g):.2e}" for p, g in node.views(model.grad).items()]
        y = acts.get(node.name)
        if y is not None:
            lines.append(f"mean {float(np.mean(y)):.3g}, std {float(np.std(y)):.3g}")
        elif isinstance(model.loss, CrossEntropy) and node is model.output:
            lines.append("(computed inside the loss)")
    return lines


def to_graphviz(model, *, rankdir: str = "TB", stats: bool = False,
                title: str | None = None) -> graphviz.Digraph:
    """The model as a ``graphviz.Digraph`` (no ``dot`` needed; see the module docstring).

    rankdir : 'TB' (top to bottom), 'LR', 'BT' or 'RL'.
    stats : overlay gradient norms (``model.grad``) and activation mean/std (``model.activations``)
        from the last ``loss_and_grad`` call; a later ``forward``/``predict`` replaces the activations.
    title : replaces the default title (model type and total parameter count).

    Parameters
    ----------
    model : Graph
        A built graph (``Sequential`` or ``Graph``).
    rankdir : {"TB", "LR", "BT", "RL"}, default "TB"
        The direction of the drawing.
    stats : bool, default False
        Overlay the last ``loss_and_grad``'s gradient norms and activation mean/std.
    title : str, optional
        The picture's title (may hold newlines).

    Returns
    -------
    graphviz.Digraph
        The picture; ``.source`` is its DOT text, the same for the same model.

    Raises
    ------
    ValueError
        An unknown ``rankdir``, or ``stats=True`` before any ``loss_and_grad`` call.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> dot = tg.to_graphviz(model, rankdir="LR")
    >>> dot.source.splitlines()[0]
    'digraph Sequential {'
    >>> dot.source.count("->")          # 5 edges between nodes and the target's edge into the loss
    6
    """
    if rankdir not in RANKDIRS:
        raise ValueError(f"to_graphviz: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    acts = _check_stats(model) if stats else None
    if title is None:
        title = f"{type(model).__name__}: {model.n_params:,} parameters"
        title += f" + {model.n_state:,} state values" if model.n_state else ""
        title += f" ({model.dtype.name}" + (f", l2={model.l2:g})" if model.l2 else ")")
        if stats:
            title += f"\nstats of the last loss_and_grad on N={len(acts[model.input.name])}"
    dot = graphviz.Digraph(name=type(model).__name__)
    label = "\\n".join(_escape(s) for s in title.split("\n"))
    dot.attr(rankdir=rankdir, label=label, labelloc="t", fontname="Helvetica", fontsize="13")
    dot.attr("node", fontname="Helvetica", fontsize="10")
    dot.attr("edge", fontname="Helvetica", fontsize="9")
    ids = {node: f"n{i}" for i, node in enumerate(model.nodes)}
    groups: dict = {}
    for node in model.nodes:  # "h0.attn", "h0.mlp.c_fc": the nodes of block h0 are drawn in one box
        groups.setdefault(node.name.split(".", 1)[0] if "." in node.name else None, []).append(node)
    for prefix, members in groups.items():
        if prefix is None:
            _draw_nodes(dot, model, members, ids, acts)
            continue
        with dot.subgraph(name=f"cluster_{prefix}") as box:
            box.attr(label=_escape(prefix), style="rounded,dashed", color="#868e96", labeljust="l")
            _draw_nodes(box, model, members, ids, acts)
    seq = time_axis(model)
    for src, dst in model.edges:
        dot.edge(ids[src], ids[dst], label=shape_text(src.out_shape, time=src in seq))
    if model.loss is not None:
        tid = f"n{len(model.nodes)}"
        dot.node(tid, "y\\ntarget", **STYLES["target"])
        dot.edge(tid, ids[model.loss], label=_target_text(model.loss), style="dashed")
    return dot


def _draw_nodes(dot, model, nodes: list, ids: dict, acts) -> None:
    for node in nodes:
        label = "\\n".join(_escape(s) for s in _lines(model, node, acts))
        dot.node(ids[node], graphviz.nohtml(label), **STYLES[kind(node)])


def output_format(path, format: str | None) -> tuple:
    """(path, format) to write: the suffix names the format; a path without one gets ``.{format}``
    (default svg); a suffix that names another format than ``format`` is an error."""
    path = Path(path)
    if format is not None and format not in graphviz.FORMATS:
        raise ValueError(f"render: unknown format {format!r}; use 'svg', 'png' or 'pdf'")
    if not path.suffix:
        format = format or "svg"
        return path.with_suffix("." + format), format
    named = path.suffix[1:].lower()
    if format is None:
        if named not in graphviz.FORMATS:
            raise ValueError(f"render: cannot tell the format from the suffix {path.suffix!r} of {str(path)!r}; "
                             "give format='svg', 'png' or 'pdf' (or a path ending in one)")
        return path, named
    if named in graphviz.FORMATS and named != format:
        raise ValueError(f"render: the path {str(path)!r} says {named!r} but format={format!r}; "
                         "the suffix decides the format: change the suffix or drop format=")
    return path, format


def render(model, path=None, format: str | None = None, **kwargs) -> graphviz.Digraph:
    """Draw ``model`` and, if ``path`` is given, write the picture there with the system ``dot``.

    The suffix of ``path`` decides the format (``net.png`` is a PNG); a path without a suffix gets
    ``.{format}`` (default svg); a suffix that contradicts an explicit ``format`` is an error. Missing
    parent folders are created. Other keyword arguments go to ``to_graphviz``. Returns the
    ``graphviz.Digraph`` (its DOT text is ``.source``). Raises ``DotNotFoundError`` (with the DOT text
    as ``.source``) when ``dot`` is not installed.

    Parameters
    ----------
    model : Graph
        A built graph.
    path : str or os.PathLike, optional
        Where to write the picture; None draws without writing (no ``dot`` needed).
    format : str, optional
        A Graphviz output format ("svg", "png", "pdf", ...) for a path without a suffix; default:
        the path's suffix, else "svg".
    **kwargs
        ``rankdir``, ``stats``, ``title``: passed to ``to_graphviz``.

    Returns
    -------
    graphviz.Digraph
        The picture (its DOT text is ``.source``).

    Raises
    ------
    ValueError
        An unknown ``format`` or ``rankdir``, a suffix that names no format, or one that contradicts
        ``format``.
    DotNotFoundError
        ``path`` given and the ``dot`` program not installed.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> dot = tg.render(model)          # no path: no file, no ``dot`` program needed
    >>> dot.source == tg.to_graphviz(model).source
    True
    >>> tg.render(model, "pictures/model.png")    # a PNG, from the suffix  # doctest: +SKIP
    """
    if path is not None:
        path, format = output_format(path, format)
    elif format is not None and format not in graphviz.FORMATS:
        raise ValueError(f"render: unknown format {format!r}; use 'svg', 'png' or 'pdf'")
    dot = to_graphviz(model, **kwargs)
    if path is not None:
        data = pipe(dot, format)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dot


def pipe(dot: graphviz.Digraph, format: str) -> bytes:
    """Run ``dot -T{format}`` on the DOT text; a clear error if the program is missing."""
    try:
        return dot.pipe(format=format)
    except graphviz.ExecutableNotFound:
        # Raised from None: the user needs the install line, not graphviz's subprocess internals.
        raise DotNotFoundError(f"rendering to {format} needs the Graphviz `dot` program, which is "
                               f"not on PATH; {INSTALL_HINT}. The DOT text is available without it: "
                               "model.to_graphviz().source (and this error's .source).",
                               dot.source) from None


def mimebundle(model, include=None, exclude=None) -> dict:
    """Jupyter display: the SVG picture, or the text summary when ``dot`` is missing."""
    bundle = {"text/plain": repr(model)}
    try:
        bundle["image/svg+xml"] = pipe(to_graphviz(model), "svg").decode("utf-8")
    except DotNotFoundError:
        bundle["text/plain"] += "\n(install Graphviz's `dot` to see the picture: apt-get install graphviz)"
    if include:
        bundle = {k: v for k, v in bundle.items() if k in include}
    if exclude:
        bundle = {k: v for k, v in bundle.items() if k not in exclude}
    return bundle


def summary(model) -> str:
    """A text table like Keras's: node, type, output shape, params, theta slice, inputs (and, for
    models with running statistics, their sizes in ``state``)."""
    stateful = bool(model.n_state)
    header = ("node", "type", "output shape", "params", "theta slice", "inputs") + (("state",) if stateful else ())
    rows, seq = [], time_axis(model)
    for node in model.nodes:
        out = "()" if isinstance(node, Loss) else shape_text(node.out_shape, time=node in seq)
        geometry = geometry_text(node)
        kind_text = type(node).__name__ + (f" {geometry}" if geometry else "")
        rows.append((node.name, kind_text, out, f"{node.size:,}",
                     f"theta[{node.start}:{node.stop}]" if node.size else "",
                     ", ".join(x.name for x in node.inputs))
                    + ((f"{node.state_size:,}" if node.states else "",) if stateful else ()))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def fmt(row):
        cells = [c.rjust(w) if i in (3, 6) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(tuple("x" * w for w in widths)))
    trainable = sum(n.size for n in model.nodes if n.trainable)
    lines = [f"{type(model).__name__} ({model.dtype.name}, l2={model.l2:g})", rule, fmt(header), rule]
    lines += [fmt(r) for r in rows]
    lines += [rule, (f"total parameters: {model.n_params:,}  (trainable {trainable:,}, "
                     f"frozen {model.n_params - trainable:,}; {math.ceil(model.theta.nbytes / 1024):,} KiB)")]
    if stateful:
        lines.append(f"state (running statistics, not trained): {model.n_state:,} values")
    return "\n".join(lines)
