"""Building a tinygraph ``Graph`` from an ONNX model (``tg.from_onnx``).

The graph is walked once, in order; each op goes to its handler (``import_ops``, ``import_shapes``),
which reads constants and ``Tensor`` views (``views``) and adds tinygraph nodes. The Graph is built
at the end and the weights (and BatchNorm running statistics) copied into its theta and state.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from ...nodes import CrossEntropy, Input, Loss, MeanSquaredError, Node, Sigmoid, Softmax
from .import_ops import HANDLERS
from .read import OnnxImportError, load_model, tensor_array
from .views import BATCH, Importer, Tensor

__all__ = ["from_onnx"]


def _attributes(node) -> dict:
    from onnx import helper
    out = {}
    for a in node.attribute:
        if a.type in (5, 10, 11):  # GRAPH, GRAPHS, SPARSE_TENSOR: control flow and sparse data
            raise OnnxImportError(f"{node.op_type}: attribute {a.name!r} holds a subgraph or sparse tensor, "
                                  "which tinygraph does not read")
        if a.type == 4:  # TENSOR: checked already by read.load_model
            continue
        v = helper.get_attribute_value(a)
        if isinstance(v, list):
            v = [s.decode() if isinstance(s, bytes) else s for s in v]
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _graph_inputs(model, imp: Importer, input_shape) -> list:
    from onnx import TensorProto
    init = {t.name for t in model.graph.initializer}
    inputs, floats = [], {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16}
    given = input_shape if isinstance(input_shape, dict) else {}
    for vi in model.graph.input:
        if vi.name in init:
            continue
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or (tt.elem_type not in floats and tt.elem_type not in (6, 7)):
            raise OnnxImportError(f"from_onnx: input {vi.name!r} is not a tensor of numbers")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        shape = given.get(vi.name, input_shape if input_shape is not None and not given else None)
        if shape is None and len(dims) > 1 and any(d is None for d in dims[1:]):
            shape = _recorded_shape(model, vi.name, dims)
        if shape is None:
            if len(dims) < 2 or any(d is None for d in dims[1:]):
                raise OnnxImportError(f"from_onnx: input {vi.name!r} has shape {dims} (None: symbolic); tinygraph "
                                      "needs its feature shape: pass input_shape= (without the batch axis)")
            shape = dims[1:]
        x = Input(tuple(shape) if not isinstance(shape, int) else shape, name=vi.name)
        imp.shapes[x] = (BATCH, *x.shape)
        imp.values[vi.name] = Tensor(x, tuple(range(len(x.shape) + 1)))
        inputs.append(x)
    if not inputs:
        raise OnnxImportError("from_onnx: the model has no inputs")
    return inputs


def _recorded_shape(model, name: str, dims: list):
    """The feature shape ``tg.to_onnx`` recorded for an input with a symbolic time axis, if any."""
    props = {p.key: p.value for p in model.metadata_props}
    try:
        shape = json.loads(props[f"tinygraph.input_shape.{name}"])
    except (KeyError, ValueError):
        return None
    ok = isinstance(shape, list) and len(shape) == len(dims) - 1 and all(
        isinstance(s, int) and s >= 1 and (d is None or d == s) for s, d in zip(shape, dims[1:]))
    return tuple(shape) if ok else None


def _float_dtype(model) -> np.dtype:
    from onnx import TensorProto
    types = [vi.type.tensor_type.elem_type for vi in model.graph.output]
    return np.dtype(np.float64 if TensorProto.DOUBLE in types else np.float32)


def _attach_loss(out: Node, loss):
    if loss is None:
        return out
    if isinstance(loss, Loss):
        return loss(out)
    if loss in ("cross-entropy", "crossentropy", "log-loss"):
        if not isinstance(out, (Softmax, Sigmoid)):
            out = Softmax()(out)  # the logits of a PyTorch classifier: CrossEntropyLoss's own softmax
        return CrossEntropy()(out)
    if loss in ("mse", "squared-error"):
        return MeanSquaredError()(out)
    raise ValueError(f"from_onnx: loss must be None, 'cross-entropy', 'mse' or a Loss node, got {loss!r}")


def from_onnx(source, *, loss=None, input_shape=None, dtype=None, l2: float = 0.0, random_state=None):
    """A tinygraph ``Graph`` from an ONNX model, with its weights (and BatchNorm running statistics).

    Reads the operators ``torch.onnx.export`` writes for ``nn.Linear``, ``nn.Conv2d``, the pools,
    ``nn.BatchNorm*`` (eval), ``nn.LayerNorm``, the activations, ``nn.LSTM``/``nn.GRU``/``nn.RNN``
    (single layer, forward), ``nn.Embedding``, flatten/reshape and add/concat, and everything
    ``tg.to_onnx`` writes (its files come back with the same theta and state, bit for bit). The
    shape arithmetic around them (``Shape``, ``Gather``, ``Concat``, ``Expand`` ...) is evaluated
    with a symbolic batch size. Any other op, or an attribute without a tinygraph counterpart, is
    refused with its name and position.

    Parameters
    ----------
    source : str, os.PathLike, bytes or onnx.ModelProto
        The model. Files are read with every tensor's size checked against the file's size first;
        tensors stored in other files (external data) are refused.
    loss : None, "cross-entropy", "mse" or a Loss node
        The loss put after the model's output. "cross-entropy" adds a Softmax first unless the
        output already is a Softmax or Sigmoid (a PyTorch classifier returns logits). None: no loss
        (``forward`` and ``predict`` work; ``loss_and_grad`` needs one).
    input_shape : tuple, or dict by input name, optional
        Feature shapes (no batch axis) for inputs whose shape in the file is symbolic beyond the batch
        axis (a sequence length, for instance).
    dtype : numpy float type, optional
        The Graph's dtype (default: the model's, float32 for PyTorch's exports).
    l2, random_state
        As for ``Graph``.

    Returns
    -------
    Graph

    Raises
    ------
    OnnxImportError
        An unsupported op or attribute (named, with its position in the graph), a malformed or
        oversized tensor, or a shape tinygraph cannot follow.

    Examples
    --------
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> again = tg.from_onnx(tg.to_onnx(model), loss="cross-entropy")
    >>> [type(node).__name__ for node in again.nodes]
    ['Input', 'Dense', 'Softmax', 'CrossEntropy']
    >>> bool((again.theta == model.theta).all())
    True
    """
    from ...graph import Graph
    model, budget = load_model(source)
    for op in model.opset_import:
        if op.domain not in ("", "ai.onnx") and any(n.domain == op.domain for n in model.graph.node):
            raise OnnxImportError(f"from_onnx: operators of domain {op.domain!r} are not read (ai.onnx only)")
    imp = Importer(budget)
    for node in model.graph.node:
        for name in node.input if node.op_type != "Shape" else ():  # Shape reads no values
            imp.readers[name] = imp.readers.get(name, 0) + 1
    for vi in model.graph.output:
        imp.readers[vi.name] = imp.readers.get(vi.name, 0) + 1
    for t in model.graph.initializer:
        imp.values[t.name] = tensor_array(t, f"initializer {t.name!r}", budget)
    inputs = _graph_inputs(model, imp, input_shape)
    for i, node in enumerate(model.graph.node):
        imp.where = f"{node.op_type} at position {i}" + (f" ({node.name})" if node.name else "")
        if node.op_type not in HANDLERS:
            raise OnnxImportError(f"{imp.where}: the op {node.op_type!r} has no tinygraph counterpart")
        args = [imp.values.get(n) if n else None for n in node.input]
        for n, a in zip(node.input, args):
            if n and a is None:
                imp.fail(f"reads {n!r}, which nothing before it computes")
        outs = HANDLERS[node.op_type](imp, node, args, _attributes(node))
        alone = all(imp.readers.get(n, 0) == 1 for n in node.input[:1]) and sum(imp.readers.get(o, 0) > 0 for o in node.output if o) <= 1
        for name, value in zip(node.output, outs):
            if isinstance(value, Tensor) and value.sole and not (alone and imp.readers.get(name, 0) == 1):
                value = replace(value, sole=False)  # another op reads it: the node may not change any more
            if name:
                imp.values[name] = value
    if len(model.graph.output) != 1:
        raise OnnxImportError(f"from_onnx: the model has {len(model.graph.output)} outputs; tinygraph graphs "
                              "end in one")
    imp.where = f"output {model.graph.output[0].name!r}"
    result = imp.values.get(model.graph.output[0].name)
    if not isinstance(result, Tensor):
        imp.fail("is a constant, not computed from the inputs")
    out = _attach_loss(imp.as_node(result, "value"), loss)
    dtype = _float_dtype(model) if dtype is None else np.dtype(dtype)
    graph = Graph(inputs, out, l2=l2, dtype=dtype, random_state=random_state)
    for node, arrays in imp.params.items():
        views = node.views(graph.theta)
        for name, value in arrays.items():
            np.copyto(views[name], value, casting="unsafe")
    for node, arrays in imp.states.items():
        views = node.state_views(graph.state)
        for name, value in arrays.items():
            np.copyto(views[name], value, casting="unsafe")
    graph._stamp_state()  # the running statistics go with these weights
    return graph
