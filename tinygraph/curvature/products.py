"""Curvature without autodiff: Gauss-Newton and Hessian times a vector, and their top eigenvalues.

Pearlmutter's R-operator, R{u} = d/dr u(θ + r v) at r = 0, written by hand in every node
(``rforward``/``rbackward``, contract in ``tinygraph.node``). After one forward pass at θ:

- ``rforward`` through the graph gives R{z} = J v (J: the Jacobian of the loss input z in θ;
  for fused cross-entropy z are the logits);
- the loss node applies its Hessian in z: R{dz} = H_L J v, with H_L = diag(p) − ppᵀ per row for
  softmax + cross-entropy, diag(p(1 − p)) for sigmoid + cross-entropy, I for squared error, all
  times the row weight 1/N (the losses are batch means);
- ``rbackward`` with the network's own second-order terms dropped (``dy=None``) is the plain
  backward of R{dz}: G v = Jᵀ H_L J v, the Gauss-Newton product (PSD, these losses being convex
  in z); keeping the ordinary backward's dy gives the exact Hessian product H v.

Both add the l2 term's Hessian, (l2/m) v on the regularised weights. No matrix is ever formed.
``kind="fisher"`` (the empirical Fisher) and ``"mc-fisher"`` (targets sampled from the model) are an
R-forward and one ordinary backward per product (``tinygraph.curvature.fisher``).
``CurvatureOperator`` keeps the forward (and, for H, backward) values, so each further product
costs one R-forward and one R-backward pass: about one more ``loss_and_grad``.
"""
from __future__ import annotations

import weakref

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from ..validation import check_random_state, check_theta, n_examples
from .fisher import FISHER_KINDS, fisher_product, fisher_rows

__all__ = ["CurvatureOperator", "curvature", "gnvp", "hvp"]

KINDS = ("gauss-newton", "hessian", *FISHER_KINDS)


def _backward(model) -> list:
    """The graph's backward pass (as in ``Graph.loss_and_grad``), keeping every node's dy."""
    grads = [None] * len(model.nodes)
    grads[model._loss_index] = model.loss.backward()
    model._propagate(grads)
    return grads


def _rbackward(model, v: np.ndarray, dys, hv: np.ndarray) -> None:
    """R-backward from the loss: writes R{grad} into ``hv`` (Gauss-Newton when ``dys`` is None)."""
    hv[...] = 0.0
    rgrads = [None] * len(model.nodes)
    rgrads[model._loss_index] = model.loss.rbackward()
    model._propagate(rgrads, lambda node, i: node.rbackward(
        rgrads[i], None if dys is None else dys[i], v, hv), "rdsum")


class CurvatureOperator(LinearOperator):
    """The Gauss-Newton matrix G or the Hessian H of ``model``'s loss at theta on (X, y), plus λI.

    A symmetric ``scipy.sparse.linalg.LinearOperator`` of shape (n_params, n_params), matrix-free.
    The forward pass (and for H the backward pass) runs once here; ``product(v)`` then costs one
    R-forward and one R-backward. Another forward pass on the model (e.g. ``loss_and_grad``) or a
    change of ``model.theta`` is detected and the cached passes are redone.

    Parameters
    ----------
    model : Graph
        A built graph ending in a loss node.
    X : numpy.ndarray
        Inputs, (N, *features).
    y : numpy.ndarray
        Targets, as for ``model.loss_and_grad``.
    theta : numpy.ndarray, optional
        The point, shape (n_params,); defaults to a copy of ``model.theta``.
    kind : {"gauss-newton", "hessian", "fisher", "mc-fisher"}, default "gauss-newton"
        G = Jᵀ H_L J (positive semi-definite), the exact Hessian H, the empirical Fisher
        Σ_n (w_n/m) g_n g_nᵀ (g_n example n's gradient), or the Fisher with each row's target drawn
        once from the model's predictive distribution (its expectation is G for cross-entropy and
        squared error).
    sample_weight : numpy.ndarray, optional
        Row weights, (N,), as for ``loss_and_grad``.
    damping : float, default 0.0
        λ ≥ 0, added on the diagonal (Levenberg-Marquardt).
    check_input : bool, default True
        Validate X, y and sample_weight (False: they are already checked arrays of the model's dtype).
    random_state : int or Generator, default 0
        Seed of the sampled targets of "mc-fisher" (the same draw at every theta the operator visits).

    Raises
    ------
    ValueError
        An unknown ``kind``, or X, y, theta of the wrong shape.
    TypeError
        The graph does not end in a loss node.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> G = tg.CurvatureOperator(model, X, y)
    >>> G.shape
    (23, 23)
    >>> dense = G @ np.eye(23)                     # 23 products; only for small models
    >>> bool(np.allclose(dense, dense.T)), bool(np.linalg.eigvalsh(dense).min() > -1e-12)
    (True, True)
    >>> H = tg.CurvatureOperator(model, X, y, kind="hessian", damping=0.5)
    >>> H.product(np.ones(23)).shape
    (23,)
    """

    def __init__(self, model, X, y, *, theta=None, kind: str = "gauss-newton", sample_weight=None,
                 damping: float = 0.0, check_input: bool = True, random_state=0):
        if kind not in KINDS:
            raise ValueError(f"CurvatureOperator: kind must be one of {KINDS}, got {kind!r}")
        if model.loss is None:
            raise TypeError(f"CurvatureOperator: the graph ends in {model.output!r}, not a loss node")
        n = model.n_params
        super().__init__(dtype=model.dtype, shape=(n, n))
        self._model, self._keep = weakref.ref(model), model
        self.kind, self.damping = kind, float(damping)
        # a Generator gives one seed here: every re-preparation then draws the same targets
        self.seed = int(random_state.integers(2**63)) if isinstance(random_state, np.random.Generator) \
            else random_state
        theta = model.theta if theta is None else check_theta(theta, n, "CurvatureOperator")
        self.theta = np.array(theta, dtype=model.dtype)
        if check_input:
            X, y, sample_weight = model._check_data(X, y, sample_weight)
        self.X, self.y, self.sample_weight = X, y, sample_weight
        m = n_examples(X.shape[0], sample_weight)
        self.l2_over_m = model.l2 / m
        self._prepare()

    @classmethod
    def from_last_forward(cls, model, *, kind: str = "gauss-newton", damping: float = 0.0):
        """The operator at ``model.theta`` on the batch of the model's last ``loss_and_grad``,
        reusing that forward pass (no data needed); it refuses to run once another pass ran.
        The l2 part uses m = the number of rows (exact without sample weights).

        Parameters
        ----------
        model : Graph
            A graph whose last call was ``loss_and_grad`` in one pass (``n_jobs`` 1).
        kind : {"gauss-newton", "hessian"}, default "gauss-newton"
            G or H.
        damping : float, default 0.0
            λ ≥ 0, added on the diagonal.

        Returns
        -------
        CurvatureOperator

        Raises
        ------
        ValueError
            An unknown ``kind``.
        RuntimeError
            The model has run no ``loss_and_grad`` (here, or in ``product`` when another forward
            pass ran or theta changed since).

        Examples
        --------
        >>> import numpy as np
        >>> import tinygraph as tg
        >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
        >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
        ...                       random_state=0)
        >>> loss, grad = model.loss_and_grad(model.theta, X, y)
        >>> G = tg.CurvatureOperator.from_last_forward(model)
        >>> v = np.ones(model.n_params)
        >>> bool(np.allclose(G.product(v), tg.CurvatureOperator(model, X, y).product(v)))
        True
        """
        if kind not in KINDS[:2]:
            raise ValueError(f"CurvatureOperator.from_last_forward: kind must be one of {KINDS[:2]}, got {kind!r}")
        if getattr(model, "_values", None) is None or model.loss is None:
            raise RuntimeError("CurvatureOperator.from_last_forward: the model has run no loss_and_grad "
                               "in one pass (a call with n_jobs > 1 keeps no activations)")
        op = cls.__new__(cls)
        LinearOperator.__init__(op, dtype=model.dtype, shape=(model.n_params,) * 2)
        op._model, op._keep, op.kind, op.damping = weakref.ref(model), model, kind, float(damping)
        op.theta, op.X, op._values = model.theta.copy(), None, model._values
        op.l2_over_m = model.l2 / model._values[0].shape[0]
        op._dys = _backward(model) if kind == "hessian" else None
        return op

    @property
    def model(self):
        return self._model()

    def _prepare(self) -> None:
        if self.X is None:
            raise RuntimeError("CurvatureOperator.from_last_forward: the model ran another forward "
                               "pass or changed theta since; build a new operator")
        model = self.model
        model._load(self.theta)
        vals = model._forward(self.X, model._train_plan)
        self.loss = model.loss.forward(vals[model._loss_index], self.y, self.sample_weight)
        self._dys = _backward(model) if self.kind == "hessian" else None
        if self.kind in FISHER_KINDS:
            self._fisher = fisher_rows(model, self.kind, self.y, self.sample_weight, self.seed)
        self._values = model._values

    def product(self, v, out: np.ndarray | None = None) -> np.ndarray:
        """(G or H + λI) v as a new array (or ``out``), v of shape (n_params,).

        Parameters
        ----------
        v : array_like
            The vector, (n_params,).
        out : numpy.ndarray, optional
            Where to write the product, (n_params,) of the model's dtype.

        Returns
        -------
        numpy.ndarray
            (G or H + λI) v, shape (n_params,) (``out`` when given).

        Raises
        ------
        ValueError
            ``v`` not of shape (n_params,).

        Examples
        --------
        >>> import numpy as np
        >>> import tinygraph as tg
        >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
        >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
        ...                       random_state=0)
        >>> G = tg.CurvatureOperator(model, X, y)
        >>> out = np.empty(model.n_params)
        >>> G.product(np.ones(model.n_params), out=out) is out
        True
        """
        model = self.model
        v = np.asarray(v, dtype=model.dtype).reshape(-1)  # scipy's trust-krylov may probe NaN: no check
        if v.shape != (model.n_params,):
            raise ValueError(f"{self.kind} product: v must have shape ({model.n_params},), got {v.shape}")
        if model._values is not self._values or not np.array_equal(model.theta, self.theta):
            self._prepare()
        out = np.empty(model.n_params, dtype=model.dtype) if out is None else out
        rvals = [None] * len(model.nodes)
        for i, node, ins in model._train_plan:
            rvals[i] = node.rforward(v, *[rvals[j] for j in ins])
        if self.kind in FISHER_KINDS:
            fisher_product(model, *self._fisher, rvals[model._loss_index], out)
        else:
            model.loss.rforward(v, rvals[model._loss_index])
            _rbackward(model, v, self._dys, out)
        if self.l2_over_m:
            for node in model.nodes:
                for p in node.regularized:
                    node.views(out)[p] += self.l2_over_m * node.views(v)[p]
        if self.damping:
            out += self.damping * v
        return out

    def _matvec(self, v):
        return self.product(v)

    def _adjoint(self):
        return self


_last = weakref.WeakKeyDictionary()  # model -> (its last operator, the data's fingerprint)


def _fingerprint(arrays) -> tuple:
    """Identity, shape, dtype and a random bilinear form r1ᵀ A r2 of each array (A: its rows × the
    rest): an in-place change of any entry changes the form (one matrix-vector product, no copy)."""
    out = []
    for a in arrays:
        if not isinstance(a, np.ndarray):
            out.append((id(a), None))
            continue
        A = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)
        rng = np.random.default_rng(0)
        dtype = A.dtype if A.dtype.kind == "f" else np.float64
        r1, r2 = rng.standard_normal(A.shape[0]).astype(dtype), rng.standard_normal(A.shape[1]).astype(dtype)
        out.append((id(a), a.shape, a.dtype.str, float(r1 @ (A @ r2))))
    return tuple(out)


def _operator(model, theta, X, y, sample_weight, kind: str) -> CurvatureOperator:
    """The model's last operator when theta and the data (same arrays, same values) are unchanged.

    scipy's trust-region methods call ``hessp(x, p, X, y)`` many times at one x: each call then
    costs the R-passes only, not a fresh forward pass. The data is recognised by a fingerprint of
    its values, not by identity alone, so data changed in place is never answered from the cache.
    """
    op, fingerprint = _last.get(model, (None, None))
    data = _fingerprint((X, y, sample_weight))
    if op is not None and op.kind == kind and fingerprint == data:
        theta = check_theta(theta, model.n_params, f"{kind} product")
        if not np.array_equal(theta, op.theta):
            op.theta[...] = theta
            op._prepare()
        return op
    op = CurvatureOperator(model, X, y, theta=theta, kind=kind, sample_weight=sample_weight)
    op._keep = None  # the cache must not keep the model alive (it is the cache's weak key)
    _last[model] = (op, data)
    return op


def gnvp(model, theta, v, X, y, *, sample_weight=None) -> np.ndarray:
    """Gauss-Newton matrix times v, Jᵀ H_L J v + (l2/m) v_W, at theta on (X, y): a new array.

    Also ``model.gnvp(theta, v, X, y)``. Repeated calls at the same theta on the same data (scipy's
    ``hessp``) reuse the forward pass: each then costs one R-forward and one R-backward.

    Parameters
    ----------
    model : Graph
        A built graph ending in a loss node.
    theta : numpy.ndarray
        The point, (n_params,).
    v : numpy.ndarray
        The vector, (n_params,).
    X, y : numpy.ndarray
        Inputs (N, *features) and targets, as for ``loss_and_grad``.
    sample_weight : numpy.ndarray, optional
        Row weights, (N,).

    Returns
    -------
    numpy.ndarray
        The product, (n_params,).

    Raises
    ------
    ValueError
        ``theta``, ``v``, X or y of the wrong shape.

    Examples
    --------
    >>> from tinygraph.curvature import gnvp
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> v = np.ones(model.n_params)
    >>> gnvp(model, model.theta, v, X, y).shape
    (23,)
    >>> bool(np.allclose(gnvp(model, model.theta, v, X, y), model.gnvp(model.theta, v, X, y)))
    True
    """
    v = check_theta(v, model.n_params, "gauss-newton product", name="v")
    with model._exclusive("gnvp"):
        return _operator(model, theta, X, y, sample_weight, "gauss-newton").product(v)


def hvp(model, theta, v, X, y, *, sample_weight=None) -> np.ndarray:
    """Exact Hessian of the loss times v at theta on (X, y) (R-backward): a new array.

    Also ``model.hvp(theta, v, X, y)``. Repeated calls at the same theta on the same data (scipy's
    ``hessp``) reuse the forward pass: each then costs one R-forward and one R-backward.

    Parameters
    ----------
    model : Graph
        A built graph ending in a loss node.
    theta : numpy.ndarray
        The point, (n_params,).
    v : numpy.ndarray
        The vector, (n_params,).
    X, y : numpy.ndarray
        Inputs (N, *features) and targets, as for ``loss_and_grad``.
    sample_weight : numpy.ndarray, optional
        Row weights, (N,).

    Returns
    -------
    numpy.ndarray
        The product, (n_params,).

    Raises
    ------
    ValueError
        ``theta``, ``v``, X or y of the wrong shape.

    Examples
    --------
    >>> from tinygraph.curvature import hvp
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> v = np.ones(model.n_params)
    >>> hvp(model, model.theta, v, X, y).shape
    (23,)
    >>> bool(np.allclose(hvp(model, model.theta, v, X, y), model.hvp(model.theta, v, X, y)))
    True
    """
    v = check_theta(v, model.n_params, "hessian product", name="v")
    with model._exclusive("hvp"):
        return _operator(model, theta, X, y, sample_weight, "hessian").product(v)


def curvature(model, X, y, k: int = 5, *, kind: str = "gauss-newton", theta=None, sample_weight=None,
              which: str = "LA", tol: float = 0.0, maxiter: int | None = None,
              random_state=0) -> np.ndarray:
    """The k largest eigenvalues (descending) of G or H at theta (default ``model.theta``).

    Lanczos (``scipy.sparse.linalg.eigsh``) on a ``CurvatureOperator``: about 2k–3k products,
    never a matrix. ``which="SA"`` gives the smallest instead (negative ones show a saddle).

    Parameters
    ----------
    model : Graph
        A built graph ending in a loss node.
    X, y : numpy.ndarray
        Inputs (N, *features) and targets.
    k : int, default 5
        How many eigenvalues, in [1, n_params - 1].
    kind : {"gauss-newton", "hessian"}, default "gauss-newton"
        G or H.
    theta : numpy.ndarray, optional
        The point, (n_params,); defaults to ``model.theta``.
    sample_weight : numpy.ndarray, optional
        Row weights, (N,).
    which : {"LA", "SA"}, default "LA"
        Largest (sorted descending) or smallest (sorted ascending) algebraic eigenvalues.
    tol : float, default 0.0
        ``eigsh``'s relative accuracy (0: machine precision).
    maxiter : int, optional
        ``eigsh``'s iteration limit.
    random_state : None, int or numpy.random.Generator, default 0
        Seed of Lanczos's start vector (a fixed seed gives a reproducible answer).

    Returns
    -------
    numpy.ndarray
        The k eigenvalues, (k,).

    Raises
    ------
    ValueError
        ``k`` outside [1, n_params - 1], or an unknown ``kind``.

    Examples
    --------
    >>> from tinygraph.curvature import curvature
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> top = curvature(model, X, y, k=3)
    >>> dense = tg.CurvatureOperator(model, X, y) @ np.eye(model.n_params)
    >>> bool(np.allclose(top, np.sort(np.linalg.eigvalsh(dense))[::-1][:3]))
    True
    >>> bool(curvature(model, X, y, k=1, kind="hessian", which="SA")[0] < 0)   # H is indefinite here
    True
    """
    if not 0 < k < model.n_params:  # before the operator's forward pass, not after it
        raise ValueError(f"curvature: k must lie in [1, {model.n_params - 1}], got {k}")
    op = CurvatureOperator(model, X, y, theta=theta, kind=kind, sample_weight=sample_weight)
    # a seeded start vector makes the answer reproducible (ARPACK otherwise draws its own)
    v0 = check_random_state(random_state).standard_normal(model.n_params)
    vals = eigsh(op, k=k, which=which, v0=v0, tol=tol, maxiter=maxiter, return_eigenvectors=False)
    return np.sort(vals)[::-1] if which != "SA" else np.sort(vals)
