"""The node protocol: every layer and loss of tinygraph follows this contract.

A node is one operation in an explicit graph, with a hand-written forward and backward.

- ``node(*inputs)`` wires the node to the nodes it reads and returns it (one node, one place).
- ``build(*in_shapes) -> out_shape`` checks the feature shapes of its inputs (no batch axis) and
  sets ``params``, a tuple of ``(name, shape)``; the graph lays them out, in that order, in the
  flat vector ``theta`` from ``start`` to ``stop``.
- ``bind(theta, grad)`` is called once by the graph: each parameter becomes an attribute that is a
  view into ``theta`` (``self.W``) and its gradient a view into ``grad`` (``self.dW``).
  Nodes never rebind these views; every write goes through ``[...] =``, ``+=`` or ``out=``.
- ``init(rng, default)`` fills the parameter views with ``self.init_scheme``, or the model's
  ``default`` scheme when the node sets none.
- ``forward(*xs) -> y`` takes arrays of shape ``(N, *in_shape)``, returns ``(N, *out_shape)``, and
  keeps on ``self`` what backward needs (the names listed in ``cached``).
- ``backward(dy) -> dx`` *writes* the parameter gradients of this node into its grad views and
  returns the input gradient (a tuple, one per input, for nodes with several inputs). It never
  writes into ``dy``. When ``need_dx`` is False (no input leads to a parameter) it may skip dx and
  return None.
- Outputs and input gradients live in buffers the node owns (``self.buffer``) and are reused by
  the next call: copy them to keep them.
- Loss nodes (``tinygraph.losses``) take ``forward(x, target, sample_weight)`` and return a float;
  their ``backward()`` starts the backward pass.
- ``get_config`` (saving) follows the same pattern: it reads the node's own attributes. By default it
  reads, as scikit-learn's ``get_params``, the attribute of the same name for each argument of
  ``__init__``; a node that keeps an argument under another name overrides it.
- ``geometry()`` describes how the node slides over its input (Conv2D: ``20@5×5, stride 1``) for
  ``summary`` and ``render``; None (the default) for nodes without one.
- The graph owns ``GRAPH_ATTRIBUTES`` (``inputs``, ``in_shapes``, ``out_shape``, ``start``, ``stop``,
  ``state_start``, ``state_stop``, ``need_dx``, ``params`` once built): a node keeps its own data under
  other names, and is told so by name if it does not.

Curvature products (Pearlmutter's R-operator, ``tinygraph.curvature``): R{u} is the derivative of
u along a direction v of theta. After ``forward``, ``rforward(v, *rxs) -> ry`` takes the flat
direction ``v`` (its parameter part via ``self.views(v)``) and R{x} of each input (None when it
is 0, e.g. for the data), returns R{y} (None if 0) and keeps what ``rbackward`` needs. After
``backward``, ``rbackward(rdy, dy, v, hv) -> rdx`` *writes* R{dW} into ``self.views(hv)`` and
returns R{dx}; ``dy=None`` drops every second-derivative term of the node, which turns the exact
Hessian product into the Gauss-Newton one. Loss nodes take ``rforward(v, rx) -> R{L}`` and
``rbackward() -> R{dx}``, the loss Hessian (with respect to x) times R{x}.

Modes, state and randomness (stated once here, for every node):

- ``self.training`` is True while the graph computes a loss, a gradient, a curvature product or
  an optimizer step (``loss_and_grad``, ``loss_value``, ``gnvp``, ``hvp``, ``fit``) and False when it
  predicts (``forward``, ``predict``, ``predict_proba``, ``score``); the graph sets it before each
  forward pass. ``model.forward(X, training=True)`` asks for the training behaviour explicitly.
  Nodes that behave the same in both modes ignore it.
- Non-trainable arrays (running statistics) are declared in ``build`` as ``states``, pairs
  ``(name, shape)`` like ``params``. The graph lays them out in a second flat vector
  ``model.state`` (from ``state_start`` to ``state_stop``), never in theta: scipy never sees them
  and they have no gradient. ``bind_state(state)`` makes each one an attribute that is a view.
  ``forward`` never writes the state: in training mode it keeps the batch's statistics on
  ``self``, and ``update_state(momentum)`` folds them in when the graph says the step was accepted
  (``model.update_state()``, called by the minibatch loop once per step). So ``loss_and_grad`` is a
  pure function of theta and a rejected line-search trial leaves no trace.
- Nodes with ``stochastic = True`` (Dropout) draw their randomness, in training mode only, from
  ``self.rng``: a ``numpy.random.Generator`` the graph seeds from (its own seed, ``noise_step``,
  the node's position) before each forward. Two passes at the same step draw the same masks, so
  the loss is a deterministic function of theta between steps (line searches, gradient checks);
  the minibatch loop advances ``noise_step`` once per step.
- ``couples_rows = True`` marks nodes whose output for one row depends on the other rows of the
  batch in training mode (BatchNorm): they refuse row blocks (``n_jobs``) and Dask shards.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

__all__ = ["GRAPH_ATTRIBUTES", "Input", "Node", "constructor_arguments", "feature_shape", "unsaved_arguments"]

_MAX_BUFFERS = 16

# What the graph writes on every node and reads back on every step. A subclass that kept its own
# data under one of these names (``self.start`` for a slice, ``self.inputs`` for a list) would be
# overwritten by the graph or, worse, would silently move the node's slice of theta: both are
# refused by name (``__init_subclass__`` for class attributes and methods, ``check_graph_attributes``
# when the graph builds and binds the node, ``tg.check_node_gradients`` after forward and backward,
# ``tg.fit`` after training).
GRAPH_ATTRIBUTES = {
    "inputs": "the nodes it reads",
    "in_shapes": "the feature shapes of its inputs",
    "out_shape": "the feature shape of its output",
    "start": "the first index of its parameters in theta",
    "stop": "the index after its parameters in theta",
    "state_start": "the first index of its state in model.state",
    "state_stop": "the index after its state in model.state",
    "need_dx": "whether backward must return the input gradient",
    "params": "the names and shapes of its parameters, fixed by build",
}
_PROTOCOL = ("size", "state_size", "theta_slice", "views", "state_views", "buffer", "bind", "bind_state")


class Node:
    """Base class of all nodes; see the module docstring for the contract.

    Parameters
    ----------
    name : str, optional
        The node's name in the graph (default: the class name and a number).
    trainable : bool, default True
        False freezes the node: ``tg.fit`` leaves its parameters (if any) as they are.
    init : str or callable, optional
        This node's initial-weight scheme (a name such as "glorot" or "he", or ``f(rng, W, b)``);
        default: the model's ``init``.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> class Double(tg.Node):
    ...     # y = 2x;  dx = 2 dy;  R{y} = 2 R{x};  R{dx} = 2 R{dy}.   x, y: (N, *features)
    ...     def forward(self, x): return 2 * x
    ...     def backward(self, dy): return 2 * dy
    ...     def rforward(self, v, rx): return None if rx is None else 2 * rx
    ...     def rbackward(self, rdy, dy, v, hv): return 2 * rdy
    >>> errors = tg.check_node_gradients(Double(), (3,))
    >>> max(errors.values()) < 1e-6
    True
    >>> tg.Sequential([Double()], input_shape=3).forward(np.ones((1, 3)))
    array([[2., 2., 2.]])
    """

    params: tuple = ()
    states: tuple = ()
    cached: tuple = ()
    regularized: tuple = ()
    n_inputs: int | None = 1
    stochastic: bool = False
    couples_rows: bool = False
    training: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in (*GRAPH_ATTRIBUTES, *_PROTOCOL):
            if name in vars(cls) and name != "params":  # a class-level params = (...) is the contract
                what = GRAPH_ATTRIBUTES.get(name, "part of the node protocol")
                raise TypeError(f"{cls.__name__} defines {name!r}, a name the graph uses on every node "
                                f"({what}); give yours another name")

    def __init__(self, *, name: str | None = None, trainable: bool = True, init=None):
        self.name = name
        self.trainable = trainable
        self.init_scheme = init
        self.dtype = np.dtype(np.float64)
        self._buffers: dict = {}
        self._graph_values: dict = {}
        self.set_graph_attributes(inputs=(), in_shapes=(), out_shape=None, start=0, stop=0, state_start=0,
                                  state_stop=0, need_dx=True)

    def set_graph_attributes(self, **values) -> None:
        """Set attributes of ``GRAPH_ATTRIBUTES`` (the graph's own writes) and remember them, so that
        ``check_graph_attributes`` can tell when something else changed them."""
        for k, v in values.items():
            setattr(self, k, v)
        self.__dict__.setdefault("_graph_values", {}).update(values)

    def check_graph_attributes(self, where: str) -> None:
        """Raise if an attribute of ``GRAPH_ATTRIBUTES`` differs from what the graph last set."""
        for k, v in self.__dict__.get("_graph_values", {}).items():
            now = getattr(self, k, None)
            if now is not v and now != v:
                raise AttributeError(
                    f"{type(self).__name__} ({self.name}) changed self.{k} {where}: the graph owns {k!r} "
                    f"({GRAPH_ATTRIBUTES[k]}; it set {v!r}, now {now!r}); keep your own data under "
                    "another name")

    def __call__(self, *inputs: Node) -> Node:
        if self.inputs:
            raise ValueError(f"{self!r} is already wired to {self.inputs}; a node sits in one place")
        if self.n_inputs is not None and len(inputs) != self.n_inputs:
            raise TypeError(f"{self!r} takes {self.n_inputs} input(s), got {len(inputs)}")
        if not inputs:
            raise TypeError(f"{self!r} needs at least one input")
        for x in inputs:
            if not isinstance(x, Node):
                raise TypeError(f"{self!r} inputs must be nodes, got {type(x).__name__}")
        self.set_graph_attributes(inputs=tuple(inputs))
        return self

    def build(self, *in_shapes: tuple) -> tuple:
        """Identity by default: elementwise nodes keep the shape of their single input."""
        return in_shapes[0]

    @property
    def size(self) -> int:
        """Number of parameters this node owns in theta."""
        return sum(math.prod(shape) for _, shape in self.params)

    @property
    def state_size(self) -> int:
        """Number of non-trainable values this node keeps in the model's ``state``."""
        return sum(math.prod(shape) for _, shape in self.states)

    @property
    def theta_slice(self) -> slice:
        """The slice ``theta[start:stop]`` holding this node's parameters."""
        return slice(self.start, self.stop)

    def views(self, flat: np.ndarray) -> dict:
        """Views into any flat vector with the model's layout, one per parameter, by name."""
        return _views(flat, self.start, self.params)

    def state_views(self, flat: np.ndarray) -> dict:
        """Views into a flat vector with the layout of ``model.state``, one per state array, by name."""
        return _views(flat, self.state_start, self.states)

    def bind(self, theta: np.ndarray, grad: np.ndarray) -> None:
        self.dtype = theta.dtype
        for pname, _ in self.params:
            for attr in (pname, "d" + pname):
                if attr in GRAPH_ATTRIBUTES or callable(getattr(type(self), attr, None)):
                    raise ValueError(f"{type(self).__name__} ({self.name}): parameter {pname!r} would be "
                                     f"bound as self.{attr}, a name the node protocol uses; rename it")
        for pname, view in self.views(theta).items():
            setattr(self, pname, view)
        for pname, view in self.views(grad).items():
            setattr(self, "d" + pname, view)

    def bind_state(self, state: np.ndarray) -> None:
        for sname, view in self.state_views(state).items():
            setattr(self, sname, view)

    def init(self, rng: np.random.Generator, default=None) -> None:
        """Nodes without parameters have nothing to draw."""

    def reset_state(self) -> None:
        """Put the state views back to their initial values (nodes with ``states`` override it)."""

    def update_state(self, momentum: float | None = None) -> None:
        """Fold the statistics of the last training-mode forward into the state (see above)."""

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self, dy: np.ndarray):
        raise NotImplementedError(f"{type(self).__name__} must define backward")

    def rforward(self, v: np.ndarray, *rxs):
        raise NotImplementedError(f"{type(self).__name__} has no rforward: no curvature products")

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray):
        raise NotImplementedError(f"{type(self).__name__} has no rbackward: no curvature products")

    def buffer(self, key: str, shape: tuple, dtype=None) -> np.ndarray:
        """A reusable array (of this node's dtype unless given), allocated once per (key, shape)."""
        k = (key, shape)
        buf = self._buffers.get(k)
        if buf is None:
            if len(self._buffers) >= _MAX_BUFFERS:
                self._buffers.clear()
            buf = self._buffers[k] = np.empty(shape, dtype=self.dtype if dtype is None else dtype)
        return buf

    def get_config(self) -> dict:
        """Constructor arguments that rebuild this node (JSON types only).

        By default, as scikit-learn's ``get_params``: for each argument of ``__init__``, the attribute
        of the same name (``init`` is ``init_scheme``, kept when it is a name). A node that keeps an
        argument under another name overrides this and returns ``{**super().get_config(), ...}``;
        ``tg.save`` refuses a node whose config leaves out an argument it cannot rebuild without.
        """
        config = {"name": self.name, "trainable": self.trainable}
        if type(self).get_config is not Node.get_config:  # called by an override: it lists its own
            return config
        args, derived = constructor_arguments(type(self)), {}
        for arg in args:  # in the constructor's order
            if arg == "init":
                derived["init"] = self.init_scheme if isinstance(self.init_scheme, str) else None
            elif arg in config:
                derived[arg] = config[arg]
            elif hasattr(self, arg):
                derived[arg] = getattr(self, arg)
        if _takes_kwargs(type(self)):  # name and trainable go on to Node.__init__ through **kwargs
            derived.update({k: v for k, v in config.items() if k not in derived})
        return derived

    def geometry(self) -> str | None:
        """How the node slides over its input, for ``summary`` and ``render`` (e.g. ``20@5×5, stride 1``);
        None: nothing to show (the default)."""
        return None

    def __getstate__(self) -> dict:
        # Views and buffers are the graph's memory: the graph rebinds them after unpickling.
        drop = {p for p, _ in self.params} | {"d" + p for p, _ in self.params} | {s for s, _ in self.states}
        drop |= set(self.cached) | {"_buffers"}
        state = {k: v for k, v in self.__dict__.items() if k not in drop}
        state["_buffers"] = {}
        return state

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if v is not None and k not in ("trainable",) or v is False)
        return f"{type(self).__name__}({args})"


def constructor_arguments(cls: type) -> dict:
    """The named arguments of ``cls.__init__`` (not ``self``, ``*args``, ``**kwargs``): name -> Parameter.

    Examples
    --------
    >>> import tinygraph as tg
    >>> list(constructor_arguments(tg.LeakyReLU))
    ['negative_slope', 'name', 'trainable']
    """
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {p.name: p for p in params if p.kind in kinds}


def _takes_kwargs(cls: type) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def unsaved_arguments(node: Node, config: dict) -> list:
    """The constructor arguments that ``config`` leaves out and a rebuild ``type(node)(**config)`` would
    lose: every required one, and, for a node that keeps the default ``get_config``, every one it has
    no attribute of the same name for."""
    derived = type(node).get_config is Node.get_config
    return [name for name, p in constructor_arguments(type(node)).items()
            if name not in config and (p.default is inspect.Parameter.empty or derived)]


def _views(flat: np.ndarray, start: int, shapes: tuple) -> dict:
    out, i = {}, start
    for name, shape in shapes:
        n = math.prod(shape)
        out[name] = flat[i:i + n].reshape(shape)
        i += n
    return out


def feature_shape(shape, who: str) -> tuple:
    """A feature shape (no batch axis) as a tuple of positive ints; an int n means (n,).

    Parameters
    ----------
    shape : int or sequence of int
        The shape to check.
    who : str
        The name the error message starts with.

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        ``shape`` is not a positive int or a non-empty sequence of them.

    Examples
    --------
    >>> from tinygraph.nodes.node import feature_shape
    >>> feature_shape(3, "Input"), feature_shape([1, 28, 28], "Input")
    ((3,), (1, 28, 28))
    """
    dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
    try:
        dims = tuple(dims)
        ok = len(dims) > 0 and all(int(d) == d and d >= 1 and not isinstance(d, bool) for d in dims)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{who}: the feature shape must be a positive int or a tuple of them, got {shape!r}")
    return tuple(int(d) for d in dims)


class Input(Node):
    """The graph's data entry point: ``X`` of shape ``(N, *shape)``.

    ``shape`` is an int for tables (``Input(784)``: X (N, 784)) or a tuple: ``(C, H, W)`` for images
    (NCHW, as PyTorch), ``(T, F)`` for sequences.

    Parameters
    ----------
    shape : int or tuple of int
        The feature shape of X, without the batch axis.
    name : str, optional
        The node's name in the graph.
    n_features : int, optional
        The older spelling of an int ``shape`` (files written before N-D inputs use it).

    Raises
    ------
    ValueError
        ``shape`` is not a positive int or a tuple of them.

    Examples
    --------
    >>> import tinygraph as tg
    >>> x = tg.Input(64)
    >>> h = tg.ReLU()(tg.Dense(64, 32)(x))
    >>> out = tg.Softmax()(tg.Dense(32, 10)(h))
    >>> model = tg.Graph(x, tg.CrossEntropy()(out), random_state=0)
    >>> tg.Input((1, 28, 28)).n_features
    784
    """

    n_inputs = 0

    def __init__(self, shape=None, *, name: str | None = None, n_features: int | None = None):
        super().__init__(name=name)
        if shape is None:  # files written before N-D inputs say n_features
            shape = n_features
        self.shape = feature_shape(shape, "Input")
        self.set_graph_attributes(out_shape=self.shape, need_dx=False)

    @property
    def n_features(self) -> int:
        """The number of values per example (the product of ``shape``)."""
        return math.prod(self.shape)

    def build(self) -> tuple:
        return self.shape

    def get_config(self) -> dict:
        shape = self.shape[0] if len(self.shape) == 1 else list(self.shape)
        return {"shape": shape, "name": self.name}
