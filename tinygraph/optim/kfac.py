"""K-FAC: natural-gradient steps with a Kronecker-factored Fisher (Martens & Grosse 2015).

Per step, after ``tg.fit``'s forward and backward on the batch (the gradient g):

1. factors: for each Dense, Conv2D and recurrent weight M, A = E[ā āᵀ] from the forward's caches and
   G = E[g gᵀ] from one extra backward whose loss gradient has targets drawn from the model
   (``tinygraph.curvature.kronecker``), folded into running averages (weight min(1 − 1/k, ``ema``));
2. proposal Δ = −(A + π√λ I)⁻¹ ∇_M (G + √λ/π I)⁻¹ per weight (factored Tikhonov damping, π² the ratio
   of the factors' mean eigenvalues), through eigendecompositions redone every ``update_every``
   steps; parameters of other nodes (LayerNorm, Embedding, BatchNorm, ...) take Δ = −g / (d + λ), d
   a running average of N·ĝ² with ĝ the sampled backward's batch gradient (E[N ĝ²] is the Fisher's
   diagonal, the per-example sampled gradients having mean 0);
3. step δ = αΔ + μδ₀ (δ₀ the previous step) minimising the quadratic model
   q(δ) = gᵀδ + ½ δᵀ(F + λI)δ with F the exact Gauss-Newton matrix of the batch (two products);
   ``lr`` and ``momentum`` fix α or μ instead;
4. every ``adapt_every`` steps λ follows the Levenberg-Marquardt rule on ρ = (h(θ + δ) − h(θ)) / q(δ)
   (q without λ): λ ← ω λ if ρ > 3/4, λ ← λ / ω if ρ < 1/4, ω = (19/20)^adapt_every.

Cost per step: the gradient, one more backward, two Gauss-Newton products (each about a forward
and a backward), the factors' products, and every ``update_every`` steps one ``eigh`` per factor.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from ..curvature.fisher import sample_targets
from ..curvature.kronecker import blocks
from ..curvature.per_example import backward_visiting
from ..curvature.products import CurvatureOperator
from ..nodes import CrossEntropy, MeanSquaredError
from ..validation import all_finite
from .optimizer import NonFiniteError, Optimizer

__all__ = ["KFAC"]


def _positive(name: str, value, allow_none: bool = False, upper: float = math.inf):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 < value < upper:
        raise ValueError(f"KFAC: {name} must be a number in (0, {upper}), got {value!r}")
    return float(value)


class KFAC(Optimizer):
    """K-FAC on the model's own factors; see the module docstring for the step.

    Parameters
    ----------
    model : Graph
        The model being trained (its last forward pass is the batch: ``tg.fit`` runs it).
    lr : float, optional
        A fixed step length α; None (default) takes α from the quadratic model.
    damping : float, default 1.0
        The initial λ (> 0).
    momentum : float, optional
        A fixed μ; None (default) takes μ from the quadratic model (with ``lr`` None), else 0.
    update_every : int, default 10
        Steps between eigendecompositions of the factors.
    adapt_every : int, default 5
        Steps between Levenberg-Marquardt updates of λ (0: λ fixed); each costs a forward pass.
    ema : float, default 0.95
        The weight of the past in the factors' running averages.
    min_damping : float, default 1e-8
        The floor of λ.
    inverse : {"eigh", "cholesky"}, default "eigh"
        "eigh": eigendecompositions every ``update_every`` steps, the current damping applied in the
        eigenbases at every step (4 products per weight per step). "cholesky": the damped inverses
        (A + π√λ I)⁻¹, (G + √λ/π I)⁻¹ by Cholesky every ``update_every`` steps, at the λ of that
        step (as tensorflow/kfac's periodic inverses; 2 products per weight per step, and a Cholesky
        inverse costs ~1/7 of an ``eigh``). The quadratic model always uses the current λ.
    curvature_fraction : float in (0, 1], default 1.0
        The share of the batch's rows (the first ones: ``tg.fit`` shuffles) on which the quadratic
        model's two Gauss-Newton products run; below 1 they cost a forward pass on those rows.
    fisher : {"sampled", "exact"}, default "sampled"
        G from one backward with targets drawn from the model, or its expectation exactly (one
        backward per output, through the columns of the loss Hessian's square root; small outputs).
    random_state : int, default 0
        Seed of the drawn targets (from (random_state, step): resumable).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((64, 4)), np.arange(64) % 2
    >>> model = tg.Sequential([tg.Dense(4, 8), tg.Tanh(), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> start = model.loss_value(model.theta, X, y)
    >>> res = tg.fit(model, X, y, tg.optim.KFAC(model), batch_size=32, epochs=5)
    >>> bool(res.fun < start)
    True
    """

    def __init__(self, model, *, lr: float | None = None, damping: float = 1.0, momentum: float | None = None,
                 update_every: int = 10, adapt_every: int = 5, ema: float = 0.95, min_damping: float = 1e-8,
                 inverse: str = "eigh", curvature_fraction: float = 1.0, fisher: str = "sampled",
                 random_state: int = 0):
        if model is None or getattr(model, "loss", None) is None:
            raise TypeError(f"KFAC: model must be a graph ending in a loss node, got {model!r}")
        self.model = model
        self.fixed_lr = _positive("lr", lr, allow_none=True)
        self.damping0 = _positive("damping", damping)
        self.momentum = None if momentum is None else float(momentum)
        if self.momentum is not None and not 0 <= self.momentum < 1:
            raise ValueError(f"KFAC: momentum must lie in [0, 1), got {momentum!r}")
        for name, v in (("update_every", update_every), ("adapt_every", adapt_every)):
            if isinstance(v, bool) or int(v) != v or v < (1 if name == "update_every" else 0):
                raise ValueError(f"KFAC: {name} must be an integer >= {1 if name == 'update_every' else 0}, "
                                 f"got {v!r}")
        self.update_every, self.adapt_every = int(update_every), int(adapt_every)
        self.ema = _positive("ema", ema, upper=1.0)
        self.min_damping = _positive("min_damping", min_damping)
        self.curvature_fraction = _positive("curvature_fraction", curvature_fraction, upper=1.0 + 1e-12)
        if fisher not in ("sampled", "exact"):
            raise ValueError(f"KFAC: fisher must be 'sampled' or 'exact', got {fisher!r}")
        self.fisher, self.random_state = fisher, int(random_state)
        if inverse not in ("eigh", "cholesky"):
            raise ValueError(f"KFAC: inverse must be 'eigh' or 'cholesky', got {inverse!r}")
        self.inverse = inverse
        self.blocks = blocks(model)
        factored = np.zeros(model.n_params, dtype=bool)
        for b in self.blocks:
            for p in (b.weight, b.bias):
                factored[b.node.views(np.arange(model.n_params))[p].reshape(-1)] = True
        self._diag_index = np.flatnonzero(~factored)
        super().__init__(1.0)

    def reset(self) -> None:
        super().reset()
        self.damping, self.rho = self.damping0, math.nan
        self.inverse_damping, self._inverses_at = self.damping0, None
        self.delta, self.diag = None, None
        self.factors = [None] * len(getattr(self, "blocks", ()))  # [A, G] running averages per block
        self.eigen = [None] * len(self.factors)  # [sA, UA, sG, UG] per block

    # -- the batch -------------------------------------------------------------------------------
    def _batch(self) -> tuple:
        """(X, target, sample weights or None, N) of the model's last forward pass."""
        model, loss = self.model, self.model.loss
        if getattr(model, "_values", None) is None:
            raise RuntimeError("KFAC: the model has run no loss_and_grad in one pass (n_jobs must be 1)")
        X = model._values[0] if len(model.inputs) == 1 else tuple(model._values[:len(model.inputs)])
        z = model._values[model._loss_index]
        target = z - loss.r if isinstance(loss, MeanSquaredError) else loss.target
        w = None if np.isscalar(loss.weight) else np.asarray(loss.weight[:, 0], dtype=np.float64)
        return X, z, target, w, z.shape[0]

    def _loss_gradients(self, z, rng) -> list:
        """The loss-input gradients whose backwards give G: one sampled, or the Hessian's root columns."""
        loss = self.model.loss
        if self.fisher == "sampled":
            loss.forward(z, sample_targets(loss, z, rng), None if np.isscalar(loss.weight) else loss.weight[:, 0])
            return [loss.backward().copy()]
        weight = loss.weight
        K = z.shape[-1]
        if isinstance(loss, MeanSquaredError):
            cols = [np.broadcast_to(np.eye(K)[k], z.shape) for k in range(K)]
        elif isinstance(loss, CrossEntropy) and loss.kind == "binary":
            root = np.sqrt(loss.p * (1.0 - loss.p))
            cols = [root * np.eye(K)[k] for k in range(K)]
        elif isinstance(loss, CrossEntropy):  # diag(p) − ppᵀ = B Bᵀ, B's column k = √p_k (e_k − p)
            p = loss.p
            cols = [np.sqrt(p[..., k:k + 1]) * (np.eye(K)[k] - p) for k in range(K)]
        else:
            raise TypeError(f"KFAC: {loss.name} ({type(loss).__name__}) defines no Fisher; use CrossEntropy "
                            "or MeanSquaredError")
        return [c * weight for c in cols]

    def _batch_factors(self, z, w, n, rng) -> tuple:
        """([A, G] per block from this batch, N·ĝ² on the unfactored entries)."""
        model = self.model
        A = [b.a_factor(w, n) for b in self.blocks]
        G = [np.zeros((b.d_out, b.d_out)) for b in self.blocks]
        where = {b.node: [] for b in self.blocks}
        for i, b in enumerate(self.blocks):
            where[b.node].append(i)
        diag = np.zeros(self._diag_index.size)
        scale = n if w is None else w.sum() ** 2 / float((w * w).sum())
        for dz in self._loss_gradients(z, rng):
            def visit(node, dy, run):
                dx = run()
                for i in where.get(node, ()):
                    G[i] += self.blocks[i].g_factor(dy, w, n)
                return dx
            model.grad[...] = 0.0
            backward_visiting(model, dz, visit)
            diag += scale * model.grad[self._diag_index] ** 2
        return [[a, g] for a, g in zip(A, G)], diag

    # -- the step --------------------------------------------------------------------------------
    def _decompose(self) -> None:
        dtype = self.model.dtype  # the proposal's products run in the model's precision
        if self.inverse == "cholesky":
            # the snapshot of the factors and λ now (saved in the state); the inverses follow from them
            self._inverses_at = None
            self.eigen = [[A.copy(), G.copy()] for A, G in self.factors]
            self.inverse_damping = self.damping
            return
        for i, (A, G) in enumerate(self.factors):
            # "evd" (divide and conquer): 2x faster than the default "evr" on 1000x1000 factors here
            sA, UA = scipy.linalg.eigh(A, driver="evd", check_finite=False)
            sG, UG = scipy.linalg.eigh(G, driver="evd", check_finite=False)
            self.eigen[i] = [np.maximum(sA, 0.0), UA.astype(dtype), np.maximum(sG, 0.0), UG.astype(dtype)]

    def _damped_inverses(self) -> list:
        """[(A + π√λ I)⁻¹, (G + √λ/π I)⁻¹] per block from the snapshot, at the current λ (cached)."""
        if getattr(self, "_inverses_at", None) is not None:
            return self._inverses
        gamma, dtype, out = math.sqrt(self.inverse_damping), self.model.dtype, []
        for A, G in self.eigen:
            pi = math.sqrt(max(np.trace(A) / A.shape[0], 1e-30) / max(np.trace(G) / G.shape[0], 1e-30))
            pair = []
            for F, c in ((A, pi * gamma), (G, gamma / pi)):
                chol = scipy.linalg.cho_factor(F + c * np.eye(F.shape[0]), check_finite=False)
                pair.append(scipy.linalg.cho_solve(chol, np.eye(F.shape[0]), check_finite=False).astype(dtype))
            out.append(pair)
        self._inverses, self._inverses_at = out, self.inverse_damping
        return out

    def _proposal(self, g: np.ndarray) -> np.ndarray:
        """−(approximate F + λI)⁻¹ g, blockwise."""
        d = np.zeros_like(g)
        gamma = math.sqrt(self.damping)
        if self.inverse == "cholesky":
            for b, (Ainv, Ginv) in zip(self.blocks, self._damped_inverses()):
                b.write(-(Ainv @ b.matrix(g).astype(Ainv.dtype) @ Ginv), d)
            d[self._diag_index] = -g[self._diag_index] / (self.diag + self.damping)
            return d
        for b, (sA, UA, sG, UG) in zip(self.blocks, self.eigen):
            # π² = (tr A / dim A) / (tr G / dim G): the damping split that keeps the factors balanced
            pi = math.sqrt(max(sA.mean(), 1e-30) / max(sG.mean(), 1e-30))
            M = UA.T @ b.matrix(g).astype(UA.dtype) @ UG
            M /= np.outer(sA + pi * gamma, sG + gamma / pi).astype(UA.dtype)
            b.write(-(UA @ M @ UG.T), d)
        d[self._diag_index] = -g[self._diag_index] / (self.diag + self.damping)
        return d

    def step(self, theta: np.ndarray, grad: np.ndarray) -> None:
        """One K-FAC update of ``theta`` (the model's own array) from ``grad`` on the last forward's batch."""
        model = self.model
        if theta is not model.theta:
            raise ValueError("KFAC.step: theta must be the model's own theta (as tg.fit passes it)")
        if not all_finite(grad):
            raise NonFiniteError(f"KFAC: non-finite gradient at step {self.t}")
        g = np.array(grad, dtype=np.float64)  # the sampled backward below overwrites model.grad
        if self._frozen is not None:
            g[self._frozen] = 0.0
        X, z, target, w, n = self._batch()
        rng = np.random.default_rng([self.random_state, self.t])
        batch, diag = self._batch_factors(z, w, n, rng)
        # the true targets back in the loss node, and h(θ); the l2 term counts m = N rows (the loss
        # node keeps only the weights' ratios), as HessianFree's curvature does
        w = None if w is None else w * (n / w.sum())
        h0 = model.loss.forward(z, target, w) + model.penalty(n)
        keep = min(1.0 - 1.0 / (self.t + 1), self.ema)
        for i, (A, G) in enumerate(batch):
            if self.factors[i] is None:
                self.factors[i] = [A, G]
            else:
                for old, new in zip(self.factors[i], (A, G)):
                    old *= keep
                    old += (1.0 - keep) * new
        self.diag = diag if self.diag is None else keep * self.diag + (1.0 - keep) * diag
        if self.t % self.update_every == 0 or any(e is None for e in self.eigen):
            self._decompose()
        proposal = self._proposal(g)
        if self._frozen is not None:
            proposal[self._frozen] = 0.0
        step, q = self._combine(g, proposal, X, target, w, n)
        if not all_finite(step):
            raise NonFiniteError(f"KFAC: non-finite update at step {self.t}")
        theta += step.astype(theta.dtype)
        self.delta = step
        if self.adapt_every and self.fixed_lr is None and (self.t + 1) % self.adapt_every == 0:
            h1 = model.loss_value(theta, X, target, sample_weight=w)
            self.rho = (h1 - h0) / q if q < 0 else -math.inf
            omega = (19 / 20) ** self.adapt_every
            if not self.rho > 0.25:
                self.damping /= omega
            elif self.rho > 0.75:
                self.damping = max(self.damping * omega, self.min_damping)
        self.t += 1

    def _combine(self, g: np.ndarray, proposal: np.ndarray, X, target, w, n: int) -> tuple:
        """(δ = αΔ + μδ₀, q(δ) without λ): α, μ from the damped quadratic model on the batch."""
        k = max(1, round(self.curvature_fraction * n))
        if k < n:
            rows = slice(0, k)
            Xk = X[rows] if not isinstance(X, tuple) else tuple(a[rows] for a in X)
            op = CurvatureOperator(self.model, Xk, target[rows], sample_weight=None if w is None else w[rows],
                                   check_input=False)
            op.l2_over_m = self.model.l2 / n  # the l2 term of the batch objective
        else:
            op = CurvatureOperator.from_last_forward(self.model)
        prev = self.delta if self.delta is not None and self.momentum != 0.0 else None
        dirs = [proposal] if prev is None else [proposal, prev]
        F = [op.product(v.astype(self.model.dtype)).astype(np.float64) for v in dirs]
        M = np.array([[u @ Fv for Fv in F] for u in dirs])
        Mlam = M + self.damping * np.array([[u @ v for v in dirs] for u in dirs])
        b = np.array([g @ u for u in dirs])
        if self.fixed_lr is not None:
            coef = np.array([self.fixed_lr] + ([self.momentum or 0.0] if prev is not None else []))
        elif self.momentum is not None and prev is not None:  # μ fixed: α alone from the model
            mu = self.momentum
            coef = np.array([-(b[0] + mu * Mlam[0, 1]) / Mlam[0, 0], mu])
        else:
            coef = -np.linalg.lstsq(Mlam, b, rcond=None)[0] if prev is not None else np.array([-b[0] / Mlam[0, 0]])
        step = sum(c * v for c, v in zip(coef, dirs))
        q = float(coef @ b + 0.5 * coef @ M @ coef)
        return step, q

    # -- state -----------------------------------------------------------------------------------
    def get_state(self) -> dict:
        state = {"t": self.t, "damping": self.damping, "inverse_damping": self.inverse_damping}
        if self.delta is not None:
            state["delta"], state["diag"] = self.delta.copy(), self.diag.copy()
        for i, (f, e) in enumerate(zip(self.factors, self.eigen)):
            if f is not None:
                state[f"A{i}"], state[f"G{i}"] = f[0].copy(), f[1].copy()
            if e is not None:
                for k, arr in zip(("sA", "UA", "sG", "UG"), e):  # cholesky: the snapshot (A, G) only
                    state[f"{k}{i}"] = arr.copy()
        return state

    def set_state(self, state: dict) -> None:
        self.reset()
        self.t, self.damping = int(state.get("t", 0)), float(state.get("damping", self.damping0))
        self.inverse_damping = float(state.get("inverse_damping", self.damping))
        if "delta" in state:
            self.delta, self.diag = np.array(state["delta"]), np.array(state["diag"])
        for i in range(len(self.blocks)):
            if f"A{i}" in state:
                self.factors[i] = [np.array(state[f"A{i}"]), np.array(state[f"G{i}"])]
            if f"sA{i}" in state:
                keys = ("sA", "UA", "sG", "UG") if f"sG{i}" in state and f"UG{i}" in state else ("sA", "UA")
                self.eigen[i] = [np.array(state[f"{k}{i}"]) for k in keys]

    def _params(self) -> dict:
        return {"lr": self.fixed_lr, "damping": self.damping0, "momentum": self.momentum,
                "update_every": self.update_every, "inverse": self.inverse,
                "curvature_fraction": self.curvature_fraction}
