"""Finite-difference checks of hand-written gradients (use float64).

``relative_error(a, b) = ||a - b|| / max(||a|| + ||b||, tiny)``, the norm-wise error of the course's
``checkNNGradients``; central differences ``(f(θ+εe) - f(θ-εe)) / 2ε`` have error O(ε²).
"""
from __future__ import annotations

import numpy as np

from ..nodes import Input, Node
from ..validation import check_random_state

__all__ = ["check_gradients", "check_node_gradients", "check_node_r_operators", "numerical_gradient",
           "relative_error"]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a|| + ||b||, tiny), over all entries (the course's ``checkNNGradients``).

    Examples
    --------
    >>> import numpy as np
    >>> from tinygraph.curvature.gradcheck import relative_error
    >>> relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 3e-9])) < 1e-9
    True
    """
    a, b = np.ravel(a), np.ravel(b)
    denom = max(np.linalg.norm(a) + np.linalg.norm(b), np.finfo(float).tiny)
    return float(np.linalg.norm(a - b) / denom)


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6, index=None) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x``, perturbed in place.

    ``index``: flat positions to probe (others stay 0); all of them by default.

    Parameters
    ----------
    f : callable
        ``f() -> float``, reading ``x``.
    x : ndarray
        Perturbed in place by ±eps, one entry at a time, and restored.
    eps : float, default 1e-6
        The step.
    index : iterable of int, optional
        Flat positions to probe.

    Returns
    -------
    ndarray, shape like x
        (f(x + eps·e_i) - f(x - eps·e_i)) / (2 eps) at each probed position.
    """
    g = np.zeros(x.size)
    flat = x.reshape(-1)
    for i in range(x.size) if index is None else index:
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g.reshape(x.shape)


def check_gradients(model, X, y, *, theta=None, sample_weight=None, eps: float = 1e-6,
                    n_checks: int | None = None, random_state=0) -> float:
    """Relative error between ``model.loss_and_grad`` and central differences of its loss.

    ``n_checks`` probes that many random coordinates of theta (all when None).

    Parameters
    ----------
    model : Graph
        A model ending in a loss; use float64.
    X, y : array_like
        Data and targets.
    theta : ndarray, optional
        Where to check (the model's theta by default).
    sample_weight : array_like, optional
        Per-row weights.
    eps : float, default 1e-6
        The central-difference step.
    n_checks : int, optional
        Probe that many random coordinates (all when None).
    random_state : int, default 0
        Which coordinates.

    Returns
    -------
    float
        The relative error; below 1e-6 for a correct gradient in float64.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((20, 4)), np.arange(20) % 3
    >>> model = tg.Sequential([tg.Dense(4, 5), tg.Tanh(), tg.Dense(5, 3), tg.Softmax(),
    ...                        tg.CrossEntropy()], l2=0.1, random_state=0)
    >>> tg.check_gradients(model, X, y) < 1e-7
    True
    """
    theta = np.array(model.theta if theta is None else theta, dtype=model.dtype)
    _, grad = model.loss_and_grad(theta, X, y, sample_weight=sample_weight)
    index = None
    if n_checks is not None and n_checks < theta.size:
        index = check_random_state(random_state).choice(theta.size, n_checks, replace=False)
        grad = grad[np.sort(index)]
        index = np.sort(index)

    def f():
        return model.loss_and_grad(theta, X, y, sample_weight=sample_weight)[0]

    num = numerical_gradient(f, theta, eps, index)
    model.theta[...] = theta
    return relative_error(grad, num if index is None else num[index])


def _standalone(node: Node, in_shapes: tuple, rng: np.random.Generator, training: bool) -> tuple:
    """Wire, build and bind one unwired node to its own float64 theta and grad (drawn at random)."""
    if not node.inputs:
        node(*[Input(s, name=f"x{i}") for i, s in enumerate(in_shapes)])
    node.name = node.name or type(node).__name__.lower()
    node.set_graph_attributes(in_shapes=in_shapes)
    out_shape = tuple(node.build(*in_shapes))
    node.check_graph_attributes("in build()")
    node.set_graph_attributes(out_shape=out_shape, start=0, stop=node.size, params=node.params)
    theta, grad = np.zeros(node.size), np.zeros(node.size)
    node.bind(theta, grad)
    if getattr(node, "state_size", 0):
        node.bind_state(np.zeros(node.state_size))
        node.reset_state()
    node.training = training
    node.set_graph_attributes(need_dx=True)
    if node.size:
        node.init(rng, "glorot")
        theta[:] += 0.1 * rng.standard_normal(node.size)
    return theta, grad


def _forward(node: Node, xs: list) -> np.ndarray:
    """One forward pass; a stochastic node draws the same randomness every time (as within a step)."""
    if node.stochastic:
        node.rng = np.random.default_rng(12345)
    return node.forward(*xs)


def _inputs(in_shapes, n, scale, rng, xs):
    if xs is not None:
        return [np.asarray(x) for x in xs]
    return [scale * rng.standard_normal((n,) + tuple(s)) for s in in_shapes]


def check_node_gradients(node: Node, *in_shapes: tuple, n: int = 4, eps: float = 1e-6,
                         random_state=0, scale: float = 1.0, xs=None, training: bool = True) -> dict:
    """Check one unwired node against ``f = Σ dy ⊙ forward(x)`` for a random upstream ``dy``.

    Builds the node for ``in_shapes`` (feature shapes), gives it its own float64 theta, and returns
    the relative error of every input gradient (``"x0"``, ``"x1"``, …) and every parameter.
    ``xs`` gives the inputs (e.g. drawn away from kinks), else they are ``scale`` × standard normal;
    inputs of integer dtype (indices) get no gradient entry.

    Parameters
    ----------
    node : Node
        An unwired node (it is wired to fresh ``Input`` nodes and built here).
    *in_shapes : tuple
        The feature shape of each input, without the batch axis.
    n : int, default 4
        Rows in the batch.
    eps : float, default 1e-6
        The central-difference step.
    random_state : int, default 0
        Seed of the inputs, parameters and dy.
    scale : float, default 1.0
        Standard deviation of the drawn inputs.
    xs : sequence of ndarray, optional
        The inputs themselves.
    training : bool, default True
        The mode the node runs in.

    Returns
    -------
    dict
        ``{"x0": err, ..., param_name: err}``, relative errors.

    Examples
    --------
    >>> import tinygraph as tg
    >>> errors = tg.check_node_gradients(tg.Dense(3, 2), (3,))
    >>> sorted(errors), all(e < 1e-7 for e in errors.values())
    (['W', 'b', 'x0'], True)
    """
    rng = check_random_state(random_state)
    theta, grad = _standalone(node, in_shapes, rng, training)
    xs = _inputs(in_shapes, n, scale, rng, xs)
    dy = rng.standard_normal((xs[0].shape[0],) + node.out_shape)

    def f():
        return float(np.sum(dy * _forward(node, xs)))

    f()
    dxs = node.backward(dy)
    node.check_graph_attributes("in forward() or backward()")
    dxs = [None if d is None else np.array(d) for d in ((dxs,) if len(in_shapes) == 1 else dxs)]
    errors = {f"x{i}": relative_error(dx, numerical_gradient(f, x, eps))
              for i, (dx, x) in enumerate(zip(dxs, xs)) if x.dtype.kind == "f"}
    analytic = grad.copy()
    for pname, view in node.views(theta).items():
        errors[pname] = relative_error(node.views(analytic)[pname], numerical_gradient(f, view, eps))
    return errors


def check_node_r_operators(node: Node, *in_shapes: tuple, n: int = 6, eps: float = 1e-5,
                           random_state=0, scale: float = 1.5, xs=None, training: bool = True) -> dict:
    """Check a node's ``rforward``/``rbackward`` against central differences along a random direction.

    With r the step along (R{x}, v) and R{dy}: R{y} = d/dr forward(x + r R{x}; θ + r v), and R{dx},
    R{dθ} = d/dr backward(dy + r R{dy}) at those points. Returns the relative errors ``"ry"``,
    ``"rdx0"``, … and ``"rdtheta"``, plus ``"gauss_newton"``: how far ``rbackward(rdy, None, …)`` is
    from the plain ``backward(rdy)`` (it must equal it: Gauss-Newton drops the node's curvature).

    Parameters
    ----------
    node : Node
        An unwired node.
    *in_shapes : tuple
        The feature shape of each input.
    n : int, default 6
        Rows in the batch.
    eps : float, default 1e-5
        The central-difference step along the direction.
    random_state : int, default 0
        Seed of the inputs, parameters, direction and upstream gradients.
    scale : float, default 1.5
        Standard deviation of the drawn inputs.
    xs : sequence of ndarray, optional
        The inputs themselves.
    training : bool, default True
        The mode the node runs in.

    Returns
    -------
    dict
        Relative errors ``"ry"``, ``"rdx0"``, ..., ``"rdtheta"`` and ``"gauss_newton"``.

    Examples
    --------
    >>> import tinygraph as tg
    >>> errors = tg.check_node_r_operators(tg.Tanh(), (4,))
    >>> all(e < 1e-6 for e in errors.values())
    True
    """
    rng = check_random_state(random_state)
    theta, grad = _standalone(node, in_shapes, rng, training)
    xs = _inputs(in_shapes, n, scale, rng, xs)
    floats = [x.dtype.kind == "f" for x in xs]
    rxs = [rng.standard_normal(x.shape) if f else None for x, f in zip(xs, floats)]
    v = rng.standard_normal(theta.size)
    dy = rng.standard_normal((xs[0].shape[0],) + node.out_shape)
    rdy = rng.standard_normal(dy.shape)
    theta0 = theta.copy()
    single = len(in_shapes) == 1

    def run(r):
        theta[:] = theta0 + r * v
        y = np.array(_forward(node, [x if rx is None else x + r * rx for x, rx in zip(xs, rxs)]))
        grad[:] = 0.0
        dx = node.backward(dy + r * rdy)
        return y, [None if d is None else np.array(d) for d in ((dx,) if single else dx)], grad.copy()

    (yp, dxp, gp), (ym, dxm, gm) = run(eps), run(-eps)
    run(0.0)  # forward and backward at the point itself, as the R-passes expect
    errors = {"ry": relative_error(node.rforward(v, *rxs), (yp - ym) / (2 * eps))}
    hv = np.zeros(theta.size)
    rdx = node.rbackward(rdy, dy, v, hv)
    for i, (r, p, m) in enumerate(zip((rdx,) if single else rdx, dxp, dxm)):
        if floats[i]:
            errors[f"rdx{i}"] = relative_error(r, (p - m) / (2 * eps))
    if theta.size:
        errors["rdtheta"] = relative_error(hv, (gp - gm) / (2 * eps))
    gn = node.rbackward(rdy, None, v, hv)
    gn_hv = hv.copy()
    grad[:] = 0.0
    plain = node.backward(rdy)
    gap = relative_error(gn_hv, grad) if theta.size else 0.0
    for i, (a, b) in enumerate(zip((gn,) if single else gn, (plain,) if single else plain)):
        if floats[i]:
            gap = max(gap, relative_error(np.array(a), np.array(b)))
    errors["gauss_newton"] = gap
    return errors
