"""Second-order optimizers on curvature products: Hessian-free and matrix-free Levenberg-Marquardt.

Both minimise, at each iteration on a batch, the damped quadratic model of the loss around θ,

    q(d) = gᵀd + ½ dᵀ G d,   solved as  (G + λI) d = −g  by conjugate gradients,

G the Gauss-Newton matrix (``tinygraph.curvature``; products only, never the matrix). The damping
λ follows the reduction ratio ρ = (f(θ + d) − f(θ)) / q(d): a step that does much worse than the
model predicts raises λ (shorter, more gradient-like steps), one that does as well lowers it.
A step that does not lower the batch loss is rejected (θ stays).

- ``HessianFree`` (Martens 2010): truncated CG (stopped when the quadratic stops improving),
  warm-started from the previous step times ``decay``; λ ← 3/2 λ if ρ < 1/4, λ ← 2/3 λ if ρ > 3/4.
  Works on minibatches or the full batch. ``structural_damping`` μ (Martens & Sutskever 2011, for
  recurrent nets): the products become (G + λI + λμ J_hᵀJ_h / N) v, J_h the Jacobian of every hidden
  state of the recurrent nodes, so a step that would change the hidden states a lot is damped
  even where the output hardly moves (ρ still uses the model with this term in it).
- ``LevenbergMarquardt`` (Nielsen's λ rule): CG to a tight tolerance from zero. For squared error
  G = JᵀJ/N exactly (the textbook method), without forming J or JᵀJ.

Protocol: like ``optim.Scipy``, they run ``maxiter`` iterations per batch through
``minimize_batch(fun, theta, hessp=None)``: ``fun(x) -> (loss, grad)`` on the batch and
``hessp(x, v)`` the Gauss-Newton product there. Without ``hessp`` the optimizer needs ``model=``
and reads the batch from the model's last forward pass (``fun`` must be the model's
``loss_and_grad`` on the batch, as in ``tg.fit``); with sample weights and l2 its curvature then
takes m = N rows in the l2 term.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.optimize

from ..curvature.products import CurvatureOperator
from ..nodes import CrossEntropy, Hinge, MeanSquaredError
from .first_order import NonFiniteError, Optimizer, Scipy

__all__ = ["HessianFree", "LevenbergMarquardt", "conjugate_gradient"]


def conjugate_gradient(A, b: np.ndarray, x0: np.ndarray | None = None, *, maxiter: int = 50,
                       tol: float = 1e-6, progress_tol: float | None = 5e-4) -> tuple:
    """Solve A x = b (A symmetric positive definite, a function of v) by conjugate gradients.

    Stops at ‖r‖ ≤ tol ‖b‖, after ``maxiter`` products, or (``progress_tol``, Martens' rule) once the
    quadratic φ(x) = ½xᵀAx − bᵀx improved by less than ``progress_tol``·k relatively over the last
    k = max(10, i/10) iterations. Returns (x, Ax, number of products).

    Parameters
    ----------
    A : callable
        v -> A v for v of b's shape (a new array).
    b : numpy.ndarray
        The right-hand side, (n,).
    x0 : numpy.ndarray, optional
        The start (copied); zeros by default.
    maxiter : int, default 50
        Products with A at most.
    tol : float, default 1e-6
        The relative residual to stop at.
    progress_tol : float or None, default 5e-4
        Martens' truncation; None runs to ``tol`` or ``maxiter``.

    Returns
    -------
    x : numpy.ndarray
        The approximate solution, (n,).
    Ax : numpy.ndarray
        A x, kept up to date without an extra product, (n,).
    n_products : int
        How many times A was applied.

    Examples
    --------
    >>> import numpy as np
    >>> from tinygraph.optim.hessian_free import conjugate_gradient
    >>> M = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> x, Ax, n = conjugate_gradient(lambda v: M @ v, np.array([1.0, 2.0]), progress_tol=None)
    >>> bool(np.allclose(M @ x, [1.0, 2.0])), n       # exact after n = 2 steps in 2 dimensions
    (True, 2)
    """
    x = np.zeros_like(b) if x0 is None else x0.copy()
    Ax = A(x) if x0 is not None and x0.any() else np.zeros_like(b)
    n_products = int(x0 is not None and x0.any())
    r = b - Ax
    p, rr, bnorm = r.copy(), float(r @ r), float(np.linalg.norm(b))
    phis = []
    for i in range(maxiter):
        if math.sqrt(rr) <= tol * bnorm:
            break
        Ap = A(p)
        n_products += 1
        pAp = float(p @ Ap)
        if not pAp > 0:  # numerically not positive definite along p: keep what we have
            break
        alpha = rr / pAp
        x += alpha * p
        Ax += alpha * Ap
        r -= alpha * Ap
        phis.append(-0.5 * float(x @ (b + r)))  # φ(x) with Ax = b − r
        k = max(10, i // 10)
        if progress_tol is not None and i >= k and phis[-1] < 0 and \
                (phis[-1] - phis[-1 - k]) / phis[-1] < k * progress_tol:
            break
        rr_new = float(r @ r)
        p *= rr_new / rr
        p += r
        rr = rr_new
    return x, Ax, n_products


class HessianFree(Scipy):
    """Hessian-free optimisation: truncated CG on the damped Gauss-Newton matrix (Martens 2010).

    Each iteration: (G + λI) d = −g by truncated CG; accept d if the batch loss falls; λ ← 3/2 λ
    if ρ < 1/4, λ ← 2/3 λ if ρ > 3/4 (ρ: actual over predicted reduction; module docstring).

    Parameters
    ----------
    model : Graph, optional
        The model being trained: its Gauss-Newton products are used on the batch of its last
        forward pass. Needed unless ``minimize_batch`` is given ``hessp``.
    damping : float, default 1.0
        The initial λ (> 0).
    maxiter : int, default 1
        Iterations per batch (one ``fit`` step each).
    cg_maxiter : int, default 50
        Gauss-Newton products per iteration at most.
    cg_tol : float, default 1e-6
        CG's relative residual tolerance.
    decay : float, default 0.95
        CG starts from decay × the previous step (0: from zero).
    curvature_fraction : float in (0, 1], default 1.0
        The share of the batch's rows (a fresh random subset each iteration) the products run on,
        Martens' cheaper curvature estimate (the gradient always uses the whole batch).
    random_state : int, default 0
        Seed of those subsets (drawn from (random_state, step, iteration): resumable).
    min_damping : float, default 1e-6
        The floor λ never falls below.
    structural_damping : float, default 0.0
        μ ≥ 0 for recurrent nodes (see the module docstring; needs ``model=``).

    Raises
    ------
    ValueError
        ``maxiter`` not a positive integer, ``damping`` ≤ 0, ``curvature_fraction`` outside
        (0, 1] or ``structural_damping`` < 0.
    TypeError
        (in a step) neither ``model=`` nor ``hessp`` given.
    NonFiniteError
        (in a step) CG returned a non-finite step.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((16, 4)), np.arange(16) % 2
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> start = model.loss_value(model.theta, X, y)
    >>> result = tg.fit(model, X, y, tg.HessianFree(model), epochs=5, random_state=0)
    >>> result.nit, bool(result.fun < start)
    (5, True)
    """

    state_names = ("d_prev",)
    progress_tol: float | None = 5e-4  # Martens' truncation; None runs CG to ``cg_tol``

    def __init__(self, model=None, *, damping: float = 1.0, maxiter: int = 1, cg_maxiter: int = 50,
                 cg_tol: float = 1e-6, decay: float = 0.95, curvature_fraction: float = 1.0,
                 random_state: int = 0, min_damping: float = 1e-6, structural_damping: float = 0.0):
        if int(maxiter) != maxiter or maxiter < 1:
            raise ValueError(f"{type(self).__name__}: maxiter must be a positive integer, got {maxiter!r}")
        if not damping > 0:
            raise ValueError(f"{type(self).__name__}: damping must be positive, got {damping!r}")
        self.model, self.damping0, self.min_damping = model, float(damping), float(min_damping)
        if not 0 < curvature_fraction <= 1:
            raise ValueError(f"{type(self).__name__}: curvature_fraction must lie in (0, 1], "
                             f"got {curvature_fraction!r}")
        self.cg_maxiter, self.cg_tol, self.decay = int(cg_maxiter), float(cg_tol), float(decay)
        if not structural_damping >= 0:
            raise ValueError(f"{type(self).__name__}: structural_damping must be >= 0, got {structural_damping!r}")
        self.structural_damping = float(structural_damping)
        self.curvature_fraction, self.random_state = float(curvature_fraction), int(random_state)
        self.method, self.maxiter, self.options = type(self).__name__, int(maxiter), {}
        Optimizer.__init__(self, 1.0)

    def reset(self) -> None:
        super().reset()
        self.damping, self.nhev = self.damping0, 0

    def _products(self, hessp, x, iteration: int):
        """v -> G v at x: ``hessp`` if given, else the model's on (a random part of) its last batch."""
        if hessp is not None:
            return lambda v: np.asarray(hessp(x, v), dtype=x.dtype)
        model = self.model
        if model is None:
            raise TypeError(f"{type(self).__name__}: give hessp(x, v) or construct it with model=")
        loss, X = model.loss, model._values[0]  # fun's last forward pass ran on the batch
        # label losses keep their targets; residual losses (squared error, Huber) keep x - t
        y = loss.target if isinstance(loss, (CrossEntropy, Hinge)) else model._values[model._loss_index] - loss.r
        sw = None if np.isscalar(loss.weight) else loss.weight[..., 0]  # (N,) or (N, T)
        n = X.shape[0]
        k = max(1, round(self.curvature_fraction * n))
        if k < n:  # a new subset every iteration, drawn from (random_state, t): resumable
            rng = np.random.default_rng([self.random_state, self.t, iteration])
            rows = np.sort(rng.choice(n, k, replace=False))
            X, y, sw = X[rows], y[rows], None if sw is None else sw[rows]
        op = CurvatureOperator(model, X, y, theta=x, sample_weight=sw, check_input=False)
        op.l2_over_m = model.l2 / n  # the l2 term of the batch objective, whatever rows estimate G
        recurrent = [node for node in model.nodes if hasattr(node, "structural")]
        if not self.structural_damping or not recurrent:
            return op.product
        c = self.structural_damping * self.damping / k

        def product(v):
            # the recurrent nodes add c·R{h_t} to their hidden states' gradients in this product only
            for node in recurrent:
                node.structural = c
            try:
                return op.product(v)
            finally:
                for node in recurrent:
                    node.structural = 0.0
        return product

    def _solve(self, G, g: np.ndarray, lam: float) -> tuple:
        x0 = None if self.d_prev is None or not self.decay else self.decay * self.d_prev
        return conjugate_gradient(lambda v: G(v) + lam * v, -g, x0, maxiter=self.cg_maxiter,
                                  tol=self.cg_tol, progress_tol=self.progress_tol)

    def _update_damping(self, rho: float) -> None:
        if rho < 0.25:
            self.damping *= 1.5
        elif rho > 0.75:
            self.damping = max(self.damping * 2 / 3, self.min_damping)

    def minimize_batch(self, fun, theta: np.ndarray, hessp=None):
        """``maxiter`` damped Gauss-Newton iterations on ``fun``; updates theta in place."""
        if self.d_prev is None or self.d_prev.shape != theta.shape:
            self.d_prev = np.zeros_like(theta)
        x = theta.copy()  # fun may write its argument into theta (the model's own array)
        f0, g = fun(x)
        nfev = 1
        for i in range(self.maxiter):
            g = np.array(g, dtype=theta.dtype)
            if self._frozen is not None:
                g[self._frozen] = 0
            G, lam = self._products(hessp, x, i), self.damping
            if self._frozen is not None:
                G = self._masked(G)
            d, Ad, n = self._solve(G, g, lam)
            self.nhev += n
            if not np.isfinite(d).all():
                raise NonFiniteError(f"{type(self).__name__}: non-finite step at step {self.t}")
            q = float(g @ d) + 0.5 * float(d @ Ad) - 0.5 * lam * float(d @ d)
            f1, g1 = fun(x + d)
            nfev += 1
            rho = (f1 - f0) / q if q < 0 else -math.inf
            self._update_damping(rho if math.isfinite(f1) else -math.inf)
            if math.isfinite(f1) and f1 < f0:
                x += d
                self.d_prev[...] = d
                f0, g = f1, g1
            else:
                self.d_prev[...] = 0.0
        theta[...] = x
        self.t += 1
        return scipy.optimize.OptimizeResult(x=x, fun=f0, jac=g, nfev=nfev, nit=self.maxiter,
                                             damping=self.damping, success=True)

    def _masked(self, G):
        frozen = self._frozen

        def product(v):
            v = v.copy()
            v[frozen] = 0
            out = G(v)
            out[frozen] = v[frozen]  # the identity on frozen entries keeps the system definite
            return out
        return product

    def get_state(self) -> dict:
        return {**super().get_state(), "damping": self.damping}

    def set_state(self, state: dict) -> None:
        state = dict(state)
        damping = float(state.pop("damping", self.damping0))
        super().set_state(state)
        self.damping = damping

    def _params(self) -> dict:
        return {"damping": self.damping0, "maxiter": self.maxiter, "cg_maxiter": self.cg_maxiter}


class LevenbergMarquardt(HessianFree):
    """Matrix-free Levenberg-Marquardt for squared-error models: (JᵀJ/N + λI) d = −g by CG.

    λ after a step with ratio ρ (Nielsen 1999): accepted, λ ← λ·max(1/3, 1 − (2ρ − 1)³) and ν = 2;
    rejected, λ ← λν, ν ← 2ν. Full batch by default in spirit: use it without ``batch_size``.

    Parameters
    ----------
    model : Graph, optional
        A model ending in ``MeanSquaredError``; needed unless ``minimize_batch`` is given ``hessp``.
    damping : float, default 1e-2
        The initial λ (> 0).
    maxiter : int, default 1
        Iterations per batch (one ``fit`` step each).
    cg_maxiter : int, default 200
        Gauss-Newton products per iteration at most.
    cg_tol : float, default 1e-8
        CG's relative residual tolerance (CG starts from zero).
    min_damping : float, default 1e-10
        The floor λ never falls below.

    Raises
    ------
    TypeError
        ``model`` does not end in ``MeanSquaredError`` (use ``HessianFree`` for cross-entropy).
    ValueError
        ``maxiter`` not a positive integer or ``damping`` ≤ 0.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X = np.random.default_rng(0).standard_normal((16, 4))
    >>> y = X @ np.array([1.0, -2.0, 0.5, 0.0])
    >>> model = tg.Sequential([tg.Dense(4, 1), tg.MeanSquaredError()], random_state=0)
    >>> result = tg.fit(model, X, y, tg.LevenbergMarquardt(model), epochs=5, random_state=0)
    >>> bool(result.fun < 1e-12)       # a linear least-squares fit: exact
    True
    """

    progress_tol = None  # CG from zero (decay=0) to a tight tolerance

    def __init__(self, model=None, *, damping: float = 1e-2, maxiter: int = 1, cg_maxiter: int = 200,
                 cg_tol: float = 1e-8, min_damping: float = 1e-10):
        if model is not None and not isinstance(model.loss, MeanSquaredError):
            raise TypeError(f"LevenbergMarquardt: needs a MeanSquaredError model, got {model.loss!r}; "
                            "use HessianFree for cross-entropy")
        super().__init__(model, damping=damping, maxiter=maxiter, cg_maxiter=cg_maxiter, cg_tol=cg_tol,
                         decay=0.0, min_damping=min_damping)

    def reset(self) -> None:
        super().reset()
        self.nu = 2.0

    def _update_damping(self, rho: float) -> None:
        if rho > 0:
            self.damping = max(self.damping * max(1 / 3, 1 - (2 * rho - 1) ** 3), self.min_damping)
            self.nu = 2.0
        else:
            self.damping *= self.nu
            self.nu *= 2

    def get_state(self) -> dict:
        return {**super().get_state(), "nu": self.nu}

    def set_state(self, state: dict) -> None:
        state = dict(state)
        nu = float(state.pop("nu", 2.0))
        super().set_state(state)
        self.nu = nu
