"""Writing a model's prediction graph as ONNX (``tg.to_onnx``).

The exported graph is what ``model.forward`` computes in evaluation mode: from the ``Input`` nodes
to ``model.output`` (the node in front of the loss, which is dropped; a Softmax or Sigmoid fused
into ``CrossEntropy`` is kept, so the ONNX model returns what ``predict_proba`` returns). Every
built-in node has a converter in ``tinygraph.io.onnx.export_ops``; a node of the user's own adds
one by defining ``to_onnx(self, ctx, inputs) -> str`` (see ``OnnxContext``). The batch axis is the
symbolic dimension ``"N"``; the time axis of a sequence input is ``"T"`` when every node reading it
works for any length.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ...nodes import Dense, Dropout, Embedding, Identity, Input, Node
from ...nodes.activations import ReLU, Sigmoid, Tanh
from ...nodes.gated import GRU, LSTM
from ...nodes.rectifiers import ELU, GELU, LeakyReLU, Softplus
from ...nodes.recurrent import SimpleRNN
from .export_attention import ATTENTION_CONVERTERS
from .export_ops import CONVERTERS
from .read import require_onnx

__all__ = ["DEFAULT_OPSET", "OnnxContext", "to_onnx"]

DEFAULT_OPSET = 20  # what torch.onnx.export writes today; Gelu and LayerNormalization are native
MIN_OPSET = 17  # LayerNormalization, and Softmax over one axis (13)

# Nodes through which a sequence input keeps any length T (everything else fixes T in a shape).
_ANY_LENGTH = (Dense, Embedding, SimpleRNN, LSTM, GRU, Dropout, Identity, ReLU, Sigmoid, Tanh,
               LeakyReLU, ELU, Softplus, GELU)


class OnnxContext:
    """What a converter writes into: ONNX nodes, initializers and fresh names.

    A converter ``f(ctx, node, inputs) -> output_name`` (and a user's ``node.to_onnx(ctx, inputs)``)
    reads its node's parameters (``ctx.param(node, "W")``: the array, cast to the export dtype),
    adds initializers with ``ctx.constant(name, array)`` and operators with
    ``ctx.op(op_type, inputs, **attributes) -> output_name``, and returns the name of its output.
    ``ctx.opset`` is the opset being written; ``ctx.dtype`` the float type of the tensors.
    """

    def __init__(self, model, opset: int, dtype: np.dtype):
        from onnx import helper
        self.helper, self.model, self.opset, self.dtype = helper, model, opset, np.dtype(dtype)
        self.nodes, self.initializers, self._names = [], [], set()
        self._node_name = None

    def fresh(self, base: str) -> str:
        """A tensor name not used yet, starting with ``base``."""
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def param(self, node: Node, name: str) -> np.ndarray:
        """A parameter of ``node`` (from ``model.theta``), in the export dtype."""
        return node.views(self.model.theta)[name].astype(self.dtype)

    def state(self, node: Node, name: str) -> np.ndarray:
        """A state array of ``node`` (running statistics, from ``model.state``), in the export dtype."""
        return node.state_views(self.model.state)[name].astype(self.dtype)

    def constant(self, name: str, value) -> str:
        """Add ``value`` as an initializer; returns its (fresh) name."""
        from onnx import numpy_helper
        name = self.fresh(name)
        value = np.asarray(value)  # (np.ascontiguousarray would turn a scalar into shape (1,))
        self.initializers.append(numpy_helper.from_array(value if value.flags.c_contiguous else value.copy(), name))
        return name

    def ints(self, name: str, values) -> str:
        """An int64 initializer (shapes, axes, indices)."""
        return self.constant(name, np.asarray(values, dtype=np.int64))

    def op(self, op_type: str, inputs: list, *, n_outputs: int = 1, **attributes):
        """Add one operator; returns its output name (a list of names when ``n_outputs`` > 1)."""
        base = f"{self._node_name}.{op_type}" if self._node_name else op_type
        outputs = [self.fresh(base if i == 0 else f"{base}.{i}") for i in range(n_outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outputs, name=self.fresh(base + ".op"),
                                                **{k: v for k, v in attributes.items() if v is not None}))
        return outputs[0] if n_outputs == 1 else outputs


def _sequence_any_length(model, x: Input) -> bool:
    """True if the time axis of sequence input ``x`` can stay symbolic: every node it reaches keeps
    any length (so no shape in the file depends on T)."""
    if len(x.shape) != 2:
        return False
    reach, frontier = set(), [x]
    while frontier:
        node = frontier.pop()
        for n in model.nodes:
            if node in n.inputs and n not in reach:
                if isinstance(n, (SimpleRNN, LSTM, GRU)):
                    reach.add(n)  # its output no longer has the time axis unless return_sequences
                    if not n.return_sequences:
                        continue
                elif not isinstance(n, _ANY_LENGTH):
                    return False
                reach.add(n)
                frontier.append(n)
    return True


def _convert(ctx: OnnxContext, node: Node, inputs: list) -> str:
    hook = getattr(node, "to_onnx", None)
    if callable(hook):
        return hook(ctx, inputs)
    for cls in type(node).__mro__:
        if cls in CONVERTERS:
            return CONVERTERS[cls](ctx, node, inputs)
        if cls in ATTENTION_CONVERTERS:
            return ATTENTION_CONVERTERS[cls](ctx, node, inputs)
    raise TypeError(
        f"to_onnx: node {node.name!r} ({type(node).__name__}) has no ONNX mapping; give the class a method "
        "to_onnx(self, ctx, inputs) -> output_name that writes it with ctx.op(...) (see 'Write your own node')")


def build_model(model, *, opset: int | None = None, dtype=None):
    """The ``onnx.ModelProto`` of ``model``'s prediction graph (see ``to_onnx``)."""
    onnx = require_onnx("to_onnx")
    from onnx import TensorProto, helper
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if opset < MIN_OPSET or opset > onnx.defs.onnx_opset_version():
        raise ValueError(f"to_onnx: opset must lie in [{MIN_OPSET}, {onnx.defs.onnx_opset_version()}] "
                         f"(the installed onnx), got {opset}")
    dtype = model.dtype if dtype is None else np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"to_onnx: dtype must be float32 or float64, got {dtype}")
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    ctx = OnnxContext(model, opset, dtype)
    names, graph_inputs = {}, []
    for x in model.inputs:
        tokens = all(isinstance(n, Embedding) for n in model.nodes if x in n.inputs)
        dims = ["N", "T" if _sequence_any_length(model, x) else x.shape[0], *x.shape[1:]]
        names[x] = ctx.fresh(x.name)
        graph_inputs.append(helper.make_tensor_value_info(names[x], TensorProto.INT64 if tokens else elem, dims))
    for _, node, _ in model._predict_plan:
        ctx._node_name = node.name
        names[node] = _convert(ctx, node, [names[x] for x in node.inputs])
    ctx._node_name = None
    out = names[model.output]
    if out in (names[x] for x in model.inputs) or not any(out in n.output for n in ctx.nodes):
        out = ctx.op("Identity", [out])  # an output must be produced by a node (Dropout at the end)
    final = "output" if "output" not in ctx._names else ctx.fresh("output")
    for n in ctx.nodes:  # the output tensor gets a plain name: runtimes return it by name
        n.output[:] = [final if o == out else o for o in n.output]
        n.input[:] = [final if i == out else i for i in n.input]
    time = any("T" == d.dim_param for i in graph_inputs for d in i.type.tensor_type.shape.dim)
    out_dims = ["N", *model.output.out_shape]
    if time and len(model.output.out_shape) == 2 and any(
            isinstance(n, (SimpleRNN, LSTM, GRU, Embedding, Dense)) for n in model.nodes):
        out_dims[1] = "T"  # a sequence output keeps the input's length
    outputs = [helper.make_tensor_value_info(final, elem, out_dims)]
    graph = helper.make_graph(ctx.nodes, "tinygraph", graph_inputs, outputs, ctx.initializers)
    opsets = [helper.make_opsetid("", opset)]
    onnx_model = helper.make_model(graph, opset_imports=opsets, producer_name="tinygraph",
                                   ir_version=helper.find_min_ir_version_for(opsets))
    # the length a symbolic time axis had here, so from_onnx rebuilds the same model without being told
    helper.set_model_props(onnx_model, {f"tinygraph.input_shape.{names[x]}": json.dumps(list(x.shape))
                                        for x in model.inputs})
    return onnx_model


def _atomic_write(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_onnx(model, path=None, *, opset: int | None = None, dtype=None, check: bool = True):
    """Write ``model``'s evaluation-mode prediction graph as an ONNX file.

    The graph runs from the model's inputs (ONNX inputs of the same names, batch axis ``"N"``) to
    ``model.output``: the loss node is dropped, a Softmax/Sigmoid in front of it is kept, Dropout
    becomes the identity and BatchNorm uses the running statistics of ``model.state``. SimpleRNN,
    LSTM and GRU become ONNX's ``RNN``/``LSTM``/``GRU`` (gates reordered, as PyTorch's exporter
    does). An input read only by ``Embedding`` is int64, as in PyTorch.

    Parameters
    ----------
    model : Graph
        The model (``Sequential`` or ``Graph``).
    path : str or os.PathLike, optional
        The ``.onnx`` file to write, atomically; None returns the model without writing.
    opset : int, optional
        The ai.onnx opset (default 20; at least 17).
    dtype : numpy float type, optional
        float32 or float64 tensors (default: the model's dtype); float32 is what runtimes run fastest.
    check : bool, default True
        Run ``onnx.checker.check_model(full_check=True)`` (shape inference included) before writing.

    Returns
    -------
    onnx.ModelProto
        The exported model.

    Raises
    ------
    TypeError
        A node without an ONNX mapping (named), or a dtype other than float32/float64.
    ValueError
        An opset outside [17, the installed onnx's newest].

    Examples
    --------
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> proto = tg.to_onnx(model)                     # or model.to_onnx("net.onnx")
    >>> [node.op_type for node in proto.graph.node]   # the loss is dropped, the softmax kept
    ['Gemm', 'Softmax']
    """
    import onnx
    onnx_model = build_model(model, opset=opset, dtype=dtype)
    if check:
        onnx.checker.check_model(onnx_model, full_check=True)
    if path is not None:
        _atomic_write(os.fspath(path), onnx_model.SerializeToString())
    return onnx_model
