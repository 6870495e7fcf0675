"""Finite-difference checks of hand-written gradients (use float64).

``relative_error(a, b) = ||a - b|| / max(||a|| + ||b||, tiny)``, the norm-wise error of the course's
``checkNNGradients``; central differences ``(f(θ+εe) - f(θ-εe)) / 2ε`` have error O(ε²).
"""
from __future__ import annotations

import numpy as np

from .nodes import Input, Node
from .validation import check_random_state

__all__ = ["check_gradients", "check_node_gradients", "numerical_gradient", "relative_error"]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a), np.ravel(b)
    denom = max(np.linalg.norm(a) + np.linalg.norm(b), np.finfo(float).tiny)
    return float(np.linalg.norm(a - b) / denom)


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6, index=None) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x``, perturbed in place.

    ``index``: flat positions to probe (others stay 0); all of them by default.
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


def check_node_gradients(node: Node, *in_shapes: tuple, n: int = 4, eps: float = 1e-6,
                         random_state=0, scale: float = 1.0) -> dict:
    """Check one unwired node against ``f = Σ dy ⊙ forward(x)`` for a random upstream ``dy``.

    Builds the node for ``in_shapes`` (feature shapes), gives it its own float64 theta, and returns
    the relative error of every input gradient (``"x0"``, ``"x1"``, …) and every parameter.
    """
    rng = check_random_state(random_state)
    if not node.inputs:
        node(*[Input(s, name=f"x{i}") for i, s in enumerate(in_shapes)])
    node.name = node.name or type(node).__name__.lower()
    node.in_shapes = in_shapes
    node.out_shape = tuple(node.build(*in_shapes))
    node.start, node.stop = 0, node.size
    theta, grad = np.zeros(node.size), np.zeros(node.size)
    node.bind(theta, grad)
    node.need_dx = True
    if node.size:
        node.init(rng, "glorot")
        theta[:] += 0.1 * rng.standard_normal(node.size)
    xs = [scale * rng.standard_normal((n,) + s) for s in in_shapes]
    dy = rng.standard_normal((n,) + node.out_shape)

    def f():
        return float(np.sum(dy * node.forward(*xs)))

    f()
    dxs = node.backward(dy)
    dxs = [np.array(d) for d in ((dxs,) if len(in_shapes) == 1 else dxs)]
    errors = {f"x{i}": relative_error(dx, numerical_gradient(f, x, eps))
              for i, (dx, x) in enumerate(zip(dxs, xs))}
    analytic = grad.copy()
    for pname, view in node.views(theta).items():
        errors[pname] = relative_error(node.views(analytic)[pname], numerical_gradient(f, view, eps))
    return errors
