"""Models: an explicit graph of nodes over one flat parameter vector.

``Graph(input, output)`` collects every node that ``output`` reads, in topological order, lays all
their parameters out in one flat ``theta`` (and ``grad``, same layout), binds each node's views
once, and draws the initial weights. ``loss_and_grad(theta, X, y)`` is the scipy objective:
it copies ``theta`` in (unless it *is* ``model.theta``), runs forward once and backward once, and
returns the loss and a fresh gradient array. ``Sequential(layers)`` (``tinygraph.sequential``) wires a chain.
"""
from __future__ import annotations

import numpy as np

from .inputs import as_arrays, check_inputs
from .parallel.locking import Locking
from .nodes import CrossEntropy, Input, Loss, Node
from .nodes.initializers import get_initializer
from .parallel.rows import check_n_jobs, row_blocks
from .prediction import Prediction
from .statistics import RunningStatistics
from .validation import check_array, check_random_state, check_sample_weight, check_theta, n_examples

__all__ = ["Graph"]


def _toposort(output: Node) -> list:
    """Nodes that ``output`` depends on, each after all of its inputs (inputs visited in order)."""
    order, state, stack = [], {}, [(output, False)]
    while stack:
        node, done = stack.pop()
        if done:
            state[node] = 2
            order.append(node)
            continue
        if state.get(node) == 2:
            continue
        if state.get(node) == 1:
            raise ValueError(f"the graph has a cycle through {node!r}")
        state[node] = 1
        stack.append((node, True))
        for x in reversed(node.inputs):
            if state.get(x) == 1:
                raise ValueError(f"the graph has a cycle through {x!r}")
            if state.get(x) != 2:
                stack.append((x, False))
    return order


class Graph(Locking, Prediction, RunningStatistics):
    """A trainable model: nodes from one ``Input`` to ``output`` (usually a loss node).

    Parameters
    ----------
    input : Input, or a list of them (also as ``inputs=``)
        The node that receives ``X`` of shape (N, *input.shape). With several inputs, X is a tuple of
        arrays in this order or a dict by input name, wherever a method takes X (``tinygraph.inputs``).
    output : Node
        The last node; a ``Loss`` node makes ``loss_and_grad`` available.
    l2 : float
        The course's regularisation: adds l2/(2m)·ΣW² over weights to the loss and l2/m·W to their
        gradient, m the number of examples (the sum of sample weights if given). Weights are the
        parameters each node lists in ``regularized``: Dense's and Conv2D's ``W``, the recurrent
        cells' ``W_ih`` and ``W_hh`` (SimpleRNN, LSTM, GRU), Embedding's ``W``; never a bias, a
        normalisation's gain or shift, or a positional table.
    init : str or callable
        Default initialisation scheme for nodes that set none (see ``tinygraph.initializers``).
    dtype : float64 or float32
        dtype of theta, grad, activations and gradients.
    random_state : None, int or Generator
        Seed for the initial weights; an int makes them bit-for-bit reproducible.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> x = tg.Input(2)
    >>> h = tg.Tanh()(tg.Dense(2, 3)(x))
    >>> loss = tg.CrossEntropy()(tg.Sigmoid()(tg.Dense(3, 1)(h)))
    >>> model = tg.Graph(x, loss, random_state=0)
    >>> model.n_params
    13
    >>> X, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0, 1])
    >>> value, grad = model.loss_and_grad(model.theta, X, y)
    >>> grad.shape
    (13,)
    """

    def __init__(self, input: Input | list | None = None, output: Node | None = None, *, inputs=None,
                 l2: float = 0.0, init="glorot", dtype=np.float64, random_state=None):
        ins = self._check_inputs(input, inputs, output)
        if not np.isscalar(l2) or not 0 <= l2 < np.inf:
            raise ValueError(f"Graph: l2 must be a finite non-negative number, got {l2!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"Graph: dtype must be float32 or float64, got {self.dtype}")
        self.l2, self.init, self.random_state = float(l2), get_initializer(init), random_state
        self.init_name = init if isinstance(init, str) else None
        self.nodes = _toposort(output)
        sources = [n for n in self.nodes if not n.inputs]
        if set(sources) != set(ins):
            unused = [x.name for x in ins if x not in sources]
            raise ValueError(f"Graph: every path must start at an input {list(ins)}; found sources {sources}"
                             + (f"; inputs {unused} do not lead to the output" if unused else ""))
        if len(ins) > 1:  # the inputs first, in the order given: X's arrays go to nodes[:k]
            self.nodes = list(ins) + [n for n in self.nodes if n not in ins]
        self.inputs, self.input = ins, ins[0]
        self._make_locks()
        self.noise_step, self.noise_seed, self._noise_block = 0, None, 0
        self._name_nodes()
        self._build()
        self._plan(output)
        self.initialize()

    @staticmethod
    def _check_inputs(input, inputs, output) -> tuple:
        if inputs is not None:
            if input is not None:
                raise TypeError("Graph: pass the inputs once, as the first argument or as inputs=")
            input = inputs
        ins = tuple(input) if isinstance(input, (list, tuple)) else (input,)
        if not ins or not all(isinstance(x, Input) for x in ins):
            raise TypeError(f"Graph: input must be an Input node or a list of them, got {input!r}")
        if len(set(ins)) != len(ins):
            raise ValueError(f"Graph: an input is listed twice in {list(ins)}")
        if not isinstance(output, Node):
            raise TypeError(f"Graph: output must be a node, got {output!r}")
        return ins

    def _name_nodes(self) -> None:
        counts, seen = {}, set()
        for node in self.nodes:
            if node.name is None:
                base = "input" if isinstance(node, Input) else type(node).__name__.lower()
                counts[base] = counts.get(base, 0) + 1
                single = isinstance(node, Input) and len(self.inputs) == 1
                node.name = base if single else f"{base}{counts[base]}"
            if node.name in seen:
                raise ValueError(f"Graph: two nodes are named {node.name!r}")
            seen.add(node.name)

    def _build(self) -> None:
        offset = state_offset = 0
        for node in self.nodes:
            node.check_graph_attributes("before the graph built it (in __init__?)")
            node.set_graph_attributes(in_shapes=tuple(x.out_shape for x in node.inputs))
            out_shape = tuple(node.build(*node.in_shapes))
            node.check_graph_attributes("in build()")
            node.set_graph_attributes(out_shape=out_shape, start=offset, stop=offset + node.size,
                                      state_start=state_offset, state_stop=state_offset + node.state_size,
                                      params=node.params)
            offset, state_offset = node.stop, node.state_stop
        self.theta = np.zeros(offset, dtype=self.dtype)
        self.grad = np.zeros(offset, dtype=self.dtype)
        self.state = np.zeros(state_offset, dtype=self.dtype)
        self._bind()

    def _bind(self) -> None:
        requires = {}
        if not hasattr(self, "state"):  # pickled before state existed
            self.state, self.noise_step, self.noise_seed, self._noise_block = np.zeros(0, self.dtype), 0, None, 0
        self._training = None  # unknown: the next forward sets every node's mode
        self.__dict__.setdefault("_row_offset", 0)  # rows before X's first in the whole batch (row blocks)
        self._stateful = [node for node in self.nodes if node.states]
        self._stochastic = [(i, node) for i, node in enumerate(self.nodes) if node.stochastic]
        for node in self.nodes:
            node.bind(self.theta, self.grad)
            node.bind_state(self.state)
            node.set_graph_attributes(need_dx=any(requires[x] for x in node.inputs))
            requires[node] = node.size > 0 or node.need_dx
        self._regularized = [node.views(self.theta)[p] for node in self.nodes for p in node.regularized]
        self._regularized_grad = [node.views(self.grad)[p] for node in self.nodes for p in node.regularized]
        self._l2_scratch = np.empty(max((W.size for W in self._regularized), default=0), self.dtype)

    def _plan(self, output: Node) -> None:
        index = {node: i for i, node in enumerate(self.nodes)}
        self.loss = output if isinstance(output, Loss) else None
        self.output = output.inputs[0] if self.loss is not None else output
        loss_input = self.output
        if isinstance(self.loss, CrossEntropy):
            self.loss.fuse(self.output)
            loss_input = self.output.inputs[0]  # the logits: the activation is fused into the loss

        def plan(last):
            needed = set(_toposort(last))
            return [(index[n], n, tuple(index[x] for x in n.inputs))
                    for n in self.nodes if n in needed and not isinstance(n, Input)]

        self._predict_plan = plan(self.output)
        self._train_plan = plan(loss_input)
        self._out_index, self._loss_index = index[self.output], index[loss_input]
        self._n_consumers = [0] * len(self.nodes)
        for _, _, ins in self._train_plan:
            for j in ins:
                self._n_consumers[j] += 1

    @property
    def n_params(self) -> int:
        return self.theta.size

    @property
    def edges(self) -> list:
        """(source, destination) node pairs, in topological order of the destination."""
        return [(x, node) for node in self.nodes for x in node.inputs]

    @property
    def activations(self) -> dict:
        """Node name -> its output from the last forward pass (buffers: copy to keep)."""
        vals = getattr(self, "_values", None) or []
        return {n.name: v for n, v in zip(self.nodes, vals) if v is not None}

    @property
    def trainable_mask(self) -> np.ndarray:
        """Boolean array of theta's layout: False on the slices of frozen nodes."""
        mask = np.ones(self.n_params, dtype=bool)
        for node in self.nodes:
            if not node.trainable:
                mask[node.theta_slice] = False
        return mask

    def __getitem__(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r}; nodes are {[n.name for n in self.nodes]}")

    def initialize(self, random_state=None) -> Graph:
        """Draw theta afresh (from ``random_state``, else the model's own).

        Parameters
        ----------
        random_state : None, int or numpy.random.Generator, default None
            Seed of the new weights; None uses the model's own ``random_state``. Running
            statistics (``state``) are reset too.

        Returns
        -------
        Graph
            The model itself (its ``theta`` refilled in place).
        """
        rng = check_random_state(self.random_state if random_state is None else random_state)
        for node in self.nodes:
            if node.size:
                node.init(rng, self.init)
            node.reset_state()
        self._stamp_state()  # the initial statistics go with the initial theta
        if self._stochastic:  # drawn after the weights: the weights are the same with or without it
            self.noise_seed = int(rng.integers(2**63))
        return self

    def _load(self, theta) -> None:
        if theta is not self.theta:
            np.copyto(self.theta, check_theta(theta, self.n_params, f"{type(self).__name__}"))

    def _check_X(self, X):
        if len(self.inputs) > 1 or isinstance(X, dict):
            X = check_inputs(X, self.inputs, self.dtype)
            return X if len(self.inputs) > 1 else X.arrays[0]
        return check_array(X, self.input.shape, self.dtype, who=self.input.name)

    def _check_data(self, X, y, sample_weight):
        X = self._check_X(X)
        if self.loss is None:
            raise TypeError(f"{type(self).__name__}: the graph ends in {self.output!r}, not a loss node")
        y = self.loss.check_target(y, X.shape[0])
        steps = self.loss.in_shapes[0][0] if self.loss.sequence else None
        return X, y, check_sample_weight(sample_weight, X.shape[0], self.dtype, who=self.loss.name, steps=steps)

    def loss_and_grad(self, theta, X, y, *, sample_weight=None, regularize: bool = True,
                      check_input: bool = True, out: np.ndarray | None = None, n_jobs: int | None = None):
        """The loss at ``theta`` and its gradient: one forward and one backward pass.

        Returns ``(float, ndarray)``; the gradient is a new array of theta's dtype (or ``out``).
        ``regularize=False`` leaves out the l2 term (see ``penalty``, for sums over data shards).
        ``check_input=False`` skips validation of X, y and sample_weight (already checked data).
        ``n_jobs`` > 1 (-1: every core) splits the rows into blocks computed on that many threads
        at once (``tinygraph.parallel.rows``; hold BLAS to one thread around the calls, as ``tg.fit``
        does): for large X. A call while another thread trains the model raises ``RuntimeError``.

        Parameters
        ----------
        theta : ndarray (n_params,)
            The parameters at which to evaluate; copied into ``model.theta`` unless it is that array.
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples.
        y : ndarray
            Targets, as the loss node checks them (e.g. labels (N,) or one-hot (N, K)).
        sample_weight : ndarray (N,) or, for per-step targets, (N, T), optional
            Non-negative row weights; the loss is their weighted mean.
        regularize : bool, default True
            Add the l2 term (``penalty``) to the loss and the gradient.
        check_input : bool, default True
            Validate X, y and sample_weight (False: already checked).
        out : ndarray (n_params,), optional
            Array to write the gradient into (``model.grad`` itself: no copy).
        n_jobs : int, optional
            Threads over row blocks (-1: every core); None or 1 computes in this thread.

        Returns
        -------
        loss : float
            The mean (or weighted mean) loss, plus the l2 term if ``regularize``.
        grad : ndarray (n_params,)
            A new array of theta's dtype, or ``out``.

        Raises
        ------
        RuntimeError
            Another thread is using the model's buffers.
        ValueError
            ``n_jobs`` > 1 with a node that normalises over the batch, or bad input.
        """
        self._hold("loss_and_grad")  # not a context manager: this is every minibatch step's call
        try:
            return self._loss_and_grad(theta, X, y, sample_weight, regularize, check_input, out, n_jobs)
        finally:
            self._release()

    def _loss_and_grad(self, theta, X, y, sample_weight, regularize, check_input, out, n_jobs):
        n_jobs = check_n_jobs(n_jobs)
        if n_jobs > 1 and any(node.couples_rows for node in self.nodes):
            raise ValueError(f"{type(self).__name__}.loss_and_grad: n_jobs={n_jobs} splits the rows into blocks, "
                             f"but {next(n for n in self.nodes if n.couples_rows).name} normalises over the "
                             "whole batch; use n_jobs=1 (BLAS threads still use every core)")
        self._load(theta)
        if check_input:
            X, y, sample_weight = self._check_data(X, y, sample_weight)
        if n_jobs > 1 and X.shape[0] > 1:
            loss = row_blocks(self, X, y, sample_weight, n_jobs)
            self._values = None  # the blocks' activations live in the replicas: none here, none stale
        else:
            loss = self._forward_backward(X, y, sample_weight)
        if regularize and self.l2:
            loss += self.penalty(n_examples(X.shape[0], sample_weight), self.grad)
        if out is not None:
            if out is not self.grad:  # out=model.grad: the minibatch loop's in-place step, no copy
                np.copyto(out, self.grad)
            return loss, out
        dtype = theta.dtype if getattr(theta, "dtype", np.dtype("O")).kind == "f" else self.dtype
        return loss, self.grad.astype(dtype)

    def loss_value(self, theta, X, y, *, sample_weight=None) -> float:
        """The loss alone (forward only), e.g. for a line search or a validation set.

        Parameters
        ----------
        theta : ndarray (n_params,)
            The parameters at which to evaluate.
        X : ndarray (N, *input_shape), or a tuple/dict of arrays for several inputs
            The examples.
        y : ndarray
            Targets, as the loss node checks them.
        sample_weight : ndarray (N,) or, for per-step targets, (N, T), optional
            Non-negative row weights.

        Returns
        -------
        float
            The (weighted) mean loss plus the l2 term, in training mode (as ``loss_and_grad``).
        """
        with self._exclusive("loss_value"):
            return self._loss_value(theta, X, y, sample_weight)

    def _loss_value(self, theta, X, y, sample_weight) -> float:
        self._load(theta)
        X, y, sample_weight = self._check_data(X, y, sample_weight)
        vals = self._forward(X, self._train_plan)
        loss = self.loss.forward(vals[self._loss_index], y, sample_weight)
        if self.l2:
            loss += self.penalty(n_examples(X.shape[0], sample_weight))
        return loss

    def gnvp(self, theta, v, X, y, *, sample_weight=None) -> np.ndarray:
        """Gauss-Newton matrix times v at theta, matrix-free (``tinygraph.curvature.gnvp``).

        Parameters
        ----------
        theta : ndarray (n_params,)
            The point at which the curvature is taken.
        v : ndarray (n_params,)
            The vector to multiply.
        X, y : ndarray
            The examples and targets (as ``loss_and_grad``).
        sample_weight : ndarray (N,) or, for per-step targets, (N, T), optional
            Non-negative row weights.

        Returns
        -------
        ndarray (n_params,)
            G·v, G the Gauss-Newton matrix of the (weighted mean) loss and the l2 term.
        """
        from .curvature.products import gnvp
        return gnvp(self, theta, v, X, y, sample_weight=sample_weight)

    def hvp(self, theta, v, X, y, *, sample_weight=None) -> np.ndarray:
        """Exact Hessian times v at theta, matrix-free (``tinygraph.curvature.hvp``).

        Parameters
        ----------
        theta : ndarray (n_params,)
            The point at which the Hessian is taken.
        v : ndarray (n_params,)
            The vector to multiply.
        X, y : ndarray
            The examples and targets (as ``loss_and_grad``).
        sample_weight : ndarray (N,) or, for per-step targets, (N, T), optional
            Non-negative row weights.

        Returns
        -------
        ndarray (n_params,)
            H·v, H the Hessian of the loss (with the l2 term) at theta.
        """
        from .curvature.products import hvp
        return hvp(self, theta, v, X, y, sample_weight=sample_weight)

    def curvature(self, X, y, k: int = 5, *, kind: str = "gauss-newton", **kwargs) -> np.ndarray:
        """Top-k eigenvalues of the Gauss-Newton matrix or Hessian (``tinygraph.curvature.curvature``)."""
        from .curvature.products import curvature
        return curvature(self, X, y, k, kind=kind, **kwargs)

    def penalty(self, m: float, grad: np.ndarray | None = None) -> float:
        """l2/(2m)·ΣW² at the current theta; adds l2/m·W into ``grad`` (the model's own) if given.

        Parameters
        ----------
        m : float
            The number of examples (or the sum of the sample weights) the loss averages over.
        grad : ndarray (n_params,), optional
            ``model.grad`` itself, to which l2/m·W is added over the weights.

        Returns
        -------
        float
            The penalty (0.0 when ``l2`` is 0).

        Raises
        ------
        ValueError
            ``grad`` is not the model's own array, or l2/m overflows.
        """
        if not self.l2:
            return 0.0
        if not self.l2 / m < np.inf:
            raise ValueError(f"penalty: l2/m = {self.l2}/{m:.3g} overflows: the sample_weight sum m is too "
                             "small for this l2; multiply the weights by a constant (or lower l2)")
        total = sum(float(np.vdot(W, W)) for W in self._regularized)
        if grad is not None:
            if grad is not self.grad:
                raise ValueError("penalty: grad must be the model's own grad array")
            c = self.l2 / m
            for W, dW in zip(self._regularized, self._regularized_grad):
                # c·W goes into a scratch array: no temporary the size of W on every training step
                dW += np.multiply(W, c, out=self._l2_scratch[:W.size].reshape(W.shape))
        return 0.5 * self.l2 / m * total

    def _forward(self, X: np.ndarray, plan: list, training: bool = True) -> list:
        if self._training is not training:
            for node in self.nodes:
                node.training = training
            self._training = training
        if training and self._stochastic:
            for i, node in self._stochastic:
                key = (self.noise_seed, self.noise_step, i, self._noise_block)
                if hasattr(type(node), "row_offset"):  # draws row by row (Dropout): a row block skips ahead
                    node.row_offset = self._row_offset
                elif self._row_offset:  # any other node: a stream of its own in each row block
                    key += (self._row_offset,)
                node.rng = np.random.default_rng(key)
        vals = [None] * len(self.nodes)
        if len(self.inputs) == 1:
            vals[0] = X
        else:
            vals[:len(self.inputs)] = as_arrays(X, self.inputs)
        for i, node, ins in plan:
            vals[i] = node.forward(*[vals[j] for j in ins])
        self._values = vals
        return vals

    def _forward_backward(self, X, y, sample_weight, inspect=None) -> float:
        """One forward and one backward pass; ``inspect(node, dx)``, if given, sees every node's
        input gradient right after its backward (``tinygraph.training.scipy_bridge.diagnose`` uses it)."""
        vals = self._forward(X, self._train_plan)
        li = self._loss_index
        loss = self.loss.forward(vals[li], y, sample_weight)
        grads = [None] * len(self.nodes)
        grads[li] = self.loss.backward()
        self._propagate(grads, inspect=inspect)
        return loss

    def _propagate(self, grads: list, step=None, key: str = "dsum", inspect=None) -> None:
        """Walk the training plan backwards from ``grads`` (node index -> gradient of its output).

        ``step(node, i)`` runs a node's backward (default ``node.backward(grads[i])``; the curvature
        products pass their R-backward); what several consumers send to one node is summed in a
        buffer of that node's own (``key``), never into another node's array.
        """
        owned = set()
        for i, node, ins in reversed(self._train_plan):
            dy = grads[i]
            # stop > start: the node owns parameters (``size`` would re-sum its shapes every step)
            if dy is None or not (node.stop > node.start or node.need_dx):
                continue
            dx = node.backward(dy) if step is None else step(node, i)
            if inspect is not None:
                inspect(node, dx)
            if not node.need_dx:
                continue
            for j, d in zip(ins, (dx,) if len(ins) == 1 else dx):
                if grads[j] is None:
                    grads[j] = d
                elif j in owned:
                    grads[j] += d
                else:
                    acc = self.nodes[j].buffer(key, d.shape)
                    np.add(grads[j], d, out=acc)
                    grads[j] = acc
                    owned.add(j)

    def save(self, path, **kwargs) -> str:
        """Write the model to one ``.npz`` file, atomically; see ``tinygraph.io.format.write``."""
        from .io.format import write
        return write(self, path, **kwargs)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_values", "_l2_scratch", "_parallel", *self._LOCKS)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("inputs", (self.input,))  # pickled before graphs had several inputs
        self._make_locks()
        self._bind()  # views do not survive pickling: bind the nodes to the restored theta

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}(n_params={self.n_params}, dtype={self.dtype.name}, l2={self.l2})"]
        for node in self.nodes:
            src = ", ".join(x.name for x in node.inputs)
            lines.append(f"  {node.name}: {node!r}" + (f" <- {src}" if src else ""))
        return "\n".join(lines)

    def to_graphviz(self, **kwargs):
        """The model as a ``graphviz.Digraph``; see ``tinygraph.render.to_graphviz``."""
        from .render import to_graphviz
        return to_graphviz(self, **kwargs)

    def to_onnx(self, path=None, **kwargs):
        """The prediction graph as an ONNX model, written to ``path``; see ``tinygraph.io.onnx.to_onnx``."""
        from .io.onnx.export import to_onnx
        return to_onnx(self, path, **kwargs)

    def render(self, path=None, format: str | None = None, **kwargs):
        """Write the picture to ``path`` (its suffix names the format) with the system ``dot``; see
        ``tinygraph.render.render``."""
        from .render import render
        return render(self, path, format, **kwargs)

    def __getattr__(self, name: str):
        # Called only for a name the model does not have: model.fit(...) is a habit from Keras, and
        # training here is a function, so say which one instead of a bare AttributeError.
        if name in ("fit", "train", "partial_fit"):
            raise AttributeError(f"{type(self).__name__} has no {name}() method: train it with the function "
                                 f"tg.fit(model, X, y, optimizer, ...), or wrap it for scikit-learn with "
                                 "tg.NeuralNetClassifier(model=...)")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def summary(self) -> None:
        """Print a table of the nodes: type, output shape, parameters, theta slice, inputs."""
        from .render import summary
        print(summary(self))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from .render import mimebundle  # Jupyter: the SVG picture, text if `dot` is missing
        return mimebundle(self, include, exclude)
