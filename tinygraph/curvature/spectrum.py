"""The curvature toolbox on products alone: trace, diagonal and spectral density (PyHessian's trio).

Each works on any ``kind`` of ``CurvatureOperator`` (the Hessian H, the Gauss-Newton matrix G, the
empirical or sampled Fisher F), through products A v, never the matrix:

- ``trace``: Hutchinson, tr A = E[vᵀAv] for Rademacher v (k products; the standard error of the
  mean of the k probes is reported), or Hutch++ (Meyer, Musco, Musco & Woodruff 2021): the trace of
  A on a sketch Q of its top range exactly, Hutchinson on the rest (k/3 + k/3 + k/3 products; far
  smaller error when a few eigenvalues dominate, as they do in networks' curvature);
- ``diagonal``: Hutchinson's E[v ⊙ Av] (k products), or exact (n products: small models only);
- ``density``: stochastic Lanczos quadrature (Lin, Saad & Yang 2016; Ghorbani, Krishnan & Xiao 2019;
  Papyan 2019): m Lanczos steps from a random unit vector give Ritz values θ_i and weights τ_i (the
  squared first entries of T's eigenvectors), and φ(t) = (1/n_v) Σ_runs Σ_i τ_i N(t; θ_i, σ²)
  estimates the eigenvalue density (1/n) Σ_j δ(t − λ_j): m·n_v products. ``plot_spectrum`` draws it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import check_random_state

__all__ = ["Estimate", "Spectrum", "density", "diagonal", "plot_spectrum", "trace"]


@dataclass
class Estimate:
    """A stochastic estimate: ``value`` (a float or an array), its ``stderr`` and the ``products`` used."""

    value: object
    stderr: object
    products: int

    def __float__(self) -> float:
        return float(self.value)


def _op(model, X, y, kind, theta, sample_weight, random_state) -> tuple:
    """(the operator, the probes' Generator): an int seed gives "mc-fisher" the targets of
    ``CurvatureOperator(..., random_state=seed)`` and the probes a stream of their own."""
    from .products import CurvatureOperator
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        seed, rng = int(random_state), np.random.default_rng([int(random_state), 1])
    else:
        rng = check_random_state(random_state)
        seed = int(rng.integers(2**63))
    op = CurvatureOperator(model, X, y, theta=theta, kind=kind, sample_weight=sample_weight, random_state=seed)
    return op, rng


def _rademacher(rng, n: int, k: int, dtype) -> np.ndarray:
    return (2.0 * rng.integers(0, 2, (n, k)) - 1.0).astype(dtype)


def _check_probes(probes, who: str, minimum: int = 1) -> int:
    if isinstance(probes, bool) or int(probes) != probes or probes < minimum:
        raise ValueError(f"{who}: probes must be an integer >= {minimum}, got {probes!r}")
    return int(probes)


def trace(model, X, y, *, kind: str = "hessian", probes: int = 100, method: str = "hutchinson",
          theta=None, sample_weight=None, random_state=0) -> Estimate:
    """tr A for A = ``CurvatureOperator(model, X, y, kind=kind)``, from ``probes`` products.

    Parameters
    ----------
    model : Graph
        A graph ending in a loss node.
    X, y : ndarray
        Examples and targets, as for ``loss_and_grad``.
    kind : {"hessian", "gauss-newton", "fisher", "mc-fisher"}, default "hessian"
        The matrix.
    probes : int, default 100
        Products to spend (hutch++: a multiple of 3 is best used).
    method : {"hutchinson", "hutch++", "exact"}, default "hutchinson"
        "exact" sums eᵢᵀAeᵢ: n_params products, for small models.
    theta, sample_weight : ndarray, optional
        The point and the row weights.
    random_state : int or Generator, default 0
        Seed of the probes (and of the sampled targets for "mc-fisher").

    Returns
    -------
    Estimate
        ``value`` the trace, ``stderr`` the standard error of the stochastic part (0 when exact).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> exact = tg.curvature.trace(model, X, y, kind="gauss-newton", method="exact").value
    >>> est = tg.curvature.trace(model, X, y, kind="gauss-newton", probes=300)
    >>> bool(abs(est.value - exact) < 4 * est.stderr)
    True
    """
    A, rng = _op(model, X, y, kind, theta, sample_weight, random_state)
    n = A.shape[0]
    if method == "exact":
        eye = np.zeros(n, A.dtype)
        total = 0.0
        for i in range(n):
            eye[i] = 1.0
            total += float(A.product(eye)[i])
            eye[i] = 0.0
        return Estimate(total, 0.0, n)
    if method == "hutchinson":
        k = _check_probes(probes, "trace")
        V = _rademacher(rng, n, k, A.dtype)
        samples = np.array([float(V[:, j] @ A.product(V[:, j])) for j in range(k)])
        return Estimate(float(samples.mean()), float(samples.std(ddof=1) / np.sqrt(k)) if k > 1 else np.inf, k)
    if method == "hutch++":
        k = _check_probes(probes, "trace", minimum=3)
        s = k // 3
        S = _rademacher(rng, n, s, A.dtype)
        Q, _ = np.linalg.qr(np.column_stack([A.product(S[:, j]) for j in range(s)]))
        top = sum(float(Q[:, j] @ A.product(Q[:, j])) for j in range(Q.shape[1]))
        g = k - 2 * s
        G = _rademacher(rng, n, g, A.dtype)
        G -= Q @ (Q.T @ G)  # the probes see only what the sketch left
        samples = np.array([float(G[:, j] @ A.product(G[:, j])) for j in range(g)])
        stderr = float(samples.std(ddof=1) / np.sqrt(g)) if g > 1 else np.inf
        return Estimate(top + float(samples.mean()), stderr, 2 * s + g)
    raise ValueError(f"trace: method must be 'hutchinson', 'hutch++' or 'exact', got {method!r}")


def diagonal(model, X, y, *, kind: str = "hessian", probes: int = 100, method: str = "hutchinson",
             theta=None, sample_weight=None, random_state=0) -> Estimate:
    """diag A, (n_params,): Hutchinson's mean of v ⊙ Av over Rademacher v, or exact (n products).

    Parameters
    ----------
    model, X, y, kind, probes, theta, sample_weight, random_state
        As for ``trace``.
    method : {"hutchinson", "exact"}, default "hutchinson"

    Returns
    -------
    Estimate
        ``value`` and ``stderr`` arrays of shape (n_params,) (stderr 0 when exact).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> d = tg.curvature.diagonal(model, X, y, method="exact").value
    >>> dense = tg.CurvatureOperator(model, X, y, kind="hessian") @ np.eye(model.n_params)
    >>> bool(np.allclose(d, np.diag(dense)))
    True
    """
    A, rng = _op(model, X, y, kind, theta, sample_weight, random_state)
    n = A.shape[0]
    if method == "exact":
        out, e = np.empty(n, A.dtype), np.zeros(n, A.dtype)
        for i in range(n):
            e[i] = 1.0
            out[i] = A.product(e)[i]
            e[i] = 0.0
        return Estimate(out, np.zeros(n), n)
    if method != "hutchinson":
        raise ValueError(f"diagonal: method must be 'hutchinson' or 'exact', got {method!r}")
    k = _check_probes(probes, "diagonal")
    s1, s2 = np.zeros(n), np.zeros(n)
    for v in _rademacher(rng, n, k, A.dtype).T:
        d = v * A.product(v)
        s1 += d
        s2 += d * d
    mean = s1 / k
    var = np.maximum(s2 / k - mean * mean, 0.0) * k / max(k - 1, 1)
    return Estimate(mean, np.sqrt(var / k), k)


@dataclass
class Spectrum:
    """Ritz values ``nodes`` (n_v, m) and their quadrature ``weights`` (n_v, m), each run's summing to 1."""

    nodes: np.ndarray
    weights: np.ndarray
    products: int

    def pdf(self, grid: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """The Gaussian-broadened density on ``grid``; σ default 1% of the nodes' range."""
        sigma = self.default_sigma() if sigma is None else float(sigma)
        t = np.asarray(grid, dtype=float)[:, None, None]
        k = np.exp(-0.5 * ((t - self.nodes) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        return (k * self.weights).sum(axis=(1, 2)) / self.nodes.shape[0]

    def default_sigma(self) -> float:
        span = float(self.nodes.max() - self.nodes.min())
        return max(0.01 * span, 1e-12 * max(1.0, float(np.abs(self.nodes).max())))

    def grid(self, points: int = 1000, sigma: float | None = None) -> np.ndarray:
        """Points covering the nodes with 5σ to spare on each side."""
        sigma = self.default_sigma() if sigma is None else float(sigma)
        return np.linspace(self.nodes.min() - 5 * sigma, self.nodes.max() + 5 * sigma, points)


def _lanczos(product, v: np.ndarray, m: int) -> tuple:
    """m steps with full reorthogonalisation: (alpha, beta) of the tridiagonal T (stops early on an
    invariant subspace)."""
    n = v.size
    Q = np.zeros((m, n))
    alpha, beta = [], []
    q, b = v / np.linalg.norm(v), 0.0
    for j in range(m):
        Q[j] = q
        w = product(q)
        a = float(q @ w)
        w -= a * q + (b * Q[j - 1] if j else 0.0)
        w -= Q[:j + 1].T @ (Q[:j + 1] @ w)  # twice is enough (Kahan): Ritz values stay simple
        w -= Q[:j + 1].T @ (Q[:j + 1] @ w)
        alpha.append(a)
        b = float(np.linalg.norm(w))
        if j == m - 1 or b < 1e-10 * max(1.0, abs(a)):
            break
        beta.append(b)
        q = w / b
    return np.array(alpha), np.array(beta)


def density(model, X, y, *, kind: str = "hessian", iter: int = 100, n_v: int = 1, theta=None,
            sample_weight=None, random_state=0) -> Spectrum:
    """The eigenvalue density of A by stochastic Lanczos quadrature (PyHessian's ``density``).

    Parameters
    ----------
    model, X, y, kind, theta, sample_weight, random_state
        As for ``trace``.
    iter : int, default 100
        Lanczos steps per run (at most n_params; ``iter`` ≥ n_params gives the exact eigenvalues).
    n_v : int, default 1
        Runs from independent Gaussian start vectors, averaged.

    Returns
    -------
    Spectrum
        Nodes and weights; ``pdf(grid)`` is the density (it integrates to 1), ``plot_spectrum`` draws it.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Tanh(), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()],
    ...                       random_state=0)
    >>> s = tg.curvature.density(model, X, y, iter=23)
    >>> grid = s.grid()
    >>> bool(abs(np.trapezoid(s.pdf(grid), grid) - 1) < 1e-6)
    True
    """
    A, rng = _op(model, X, y, kind, theta, sample_weight, random_state)
    n = A.shape[0]
    m = min(_check_probes(iter, "density"), n)
    runs = _check_probes(n_v, "density")
    nodes, weights = np.zeros((runs, m)), np.zeros((runs, m))
    products = 0
    for r in range(runs):
        alpha, beta = _lanczos(A.product, rng.standard_normal(n), m)
        products += alpha.size
        theta_i, U = np.linalg.eigh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1))
        k = alpha.size
        nodes[r, :k], weights[r, :k] = theta_i, U[0] ** 2
        nodes[r, k:] = theta_i[-1]  # an early stop: padding with weight 0
    return Spectrum(nodes, weights, products)


def plot_spectrum(spectrum: Spectrum, *, ax=None, sigma: float | None = None, points: int = 1000,
                  log: bool = True, label: str | None = None, **kwargs):
    """Draw ``spectrum``'s density (log scale, as PyHessian's figures) on ``ax`` (a new one by default).

    Parameters
    ----------
    spectrum : Spectrum
        From ``density``.
    ax : matplotlib Axes, optional
    sigma : float, optional
        The broadening (default 1% of the eigenvalue range).
    points : int, default 1000
    log : bool, default True
        A logarithmic density axis.
    label : str, optional
    **kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install tinygraph[plot]``).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # an optional extra
        raise ImportError("plot_spectrum needs matplotlib (pip install matplotlib)") from e
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    grid = spectrum.grid(points, sigma)
    pdf = spectrum.pdf(grid, sigma)
    if log:
        pdf = np.maximum(pdf, 1e-12)  # PyHessian's floor: the tails underflow otherwise
        ax.set_yscale("log")
    ax.plot(grid, pdf, label=label, **kwargs)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    return ax
