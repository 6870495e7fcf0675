"""Per-example gradients from one forward and one backward pass, read off each node's caches.

A parameter node's gradient is a sum over rows: Dense dW = Σ_n a_nᵀ δ_n, Conv2D dW = Σ_n δ_n P_nᵀ
(P_n: row n's im2col patches), recurrent dW_ih = Σ_n Σ_t D_tnᵀ x_tn, Embedding a scatter of δ by token,
LayerNorm dγ = Σ_n δ_n ⊙ x̂_n. Keeping the terms apart gives the per-example gradients, BackPACK's
BatchGrad, from the input ``a`` each node caches in forward and the output gradient δ the backward
hands it (``backward_visiting`` runs the graph's backward and shows each node its δ). A node without
a rule here is split row by row: its backward once per row on δ masked to that row (exact, since
training-mode nodes that couple rows are refused, but N node backwards: slow for large N).

Convention: row n is w_n ∇ℓ_n (ℓ_n the loss of example n alone, w_n its sample weight, 1 by default),
so ``loss_and_grad``'s gradient without the l2 term is ``G.sum(0) / w.sum()`` (``G.mean(0)`` unweighted).
The loss's backward gives δ = (w_n / m) ∂ℓ_n/∂z (m = Σ w): each row's terms are multiplied by m.
"""
from __future__ import annotations

import numpy as np

from ..nodes import Conv2D, Dense, Embedding
from ..nodes.normalization import _Normalization
from ..nodes.recurrent import _Recurrent

__all__ = ["backward_visiting", "gradient_variance", "node_rows", "per_example_grad_norms",
           "per_example_grads"]


def backward_visiting(model, dz: np.ndarray, visit) -> None:
    """The graph's backward from ``dz`` (the loss input's gradient); each node with parameters runs
    through ``visit(node, dy, run)``, which must call ``run()`` (the node's backward) once and return
    its result. Parameter gradients land in ``model.grad`` as in ``loss_and_grad``."""
    grads = [None] * len(model.nodes)
    grads[model._loss_index] = dz

    def step(node, i):
        dy = grads[i]
        run = lambda: node.backward(dy)
        return visit(node, dy, run) if node.stop > node.start else run()

    model._propagate(grads, step)


def _dense(node, dy):
    n = dy.shape[0]
    if node.x_shape is None:
        return {"W": node.x[:, :, None] * dy[:, None, :], "b": dy.copy()}
    x, d = node.x.reshape(n, -1, node.n_in), dy.reshape(n, -1, node.n_out)
    return {"W": np.matmul(x.transpose(0, 2, 1), d), "b": d.sum(axis=1)}


def _conv(node, dy):
    n, O = dy.shape[0], node.out_channels
    K = node.cols.shape[0]
    if node.batch_last:  # (K, Ho, Wo, N) inside the node
        patches = node.cols.reshape(K, -1, n).transpose(2, 1, 0)
    else:  # (K, N, Ho, Wo)
        patches = node.cols.reshape(K, n, -1).transpose(1, 2, 0)
    d = dy.reshape(n, O, -1)
    return {"W": np.matmul(d, patches).reshape((n,) + node.W.shape), "b": d.sum(axis=2)}


def _recurrent(node, dy):
    fw, bw = node._ws["f"], node._ws["b"]
    D = bw["D"]
    Dh = bw.get("Dh", D)
    T = D.shape[0]
    return {"W_ih": np.einsum("tng,tnf->ngf", D, fw["xt"]), "W_hh": np.einsum("tng,tnh->ngh", Dh, fw["h"][:T]),
            "b_ih": D.sum(axis=0), "b_hh": Dh.sum(axis=0)}


def _embedding(node, dy):
    n = dy.shape[0]
    index = node.index.reshape(n, -1)
    out = np.zeros((n,) + node.W.shape, dtype=dy.dtype)
    rows = np.broadcast_to(np.arange(n)[:, None], index.shape)
    np.add.at(out, (rows, index), dy.reshape(n, -1, node.dim))
    return {"W": out}


def _normalization(node, dy):
    axes = tuple(a for a in node._param_axes if a != 0)
    n, shape = dy.shape[0], node.gamma.shape
    return {"gamma": (dy * node.x_hat).sum(axis=axes).reshape((n,) + shape),
            "beta": dy.sum(axis=axes).reshape((n,) + shape)}


# rules that read caches left by forward: run after the node's backward (recurrent: its workspace)
RULES = ((Dense, _dense), (Conv2D, _conv), (_Recurrent, _recurrent), (Embedding, _embedding),
         (_Normalization, _normalization))


def _rule(node):
    for cls, rule in RULES:
        if isinstance(node, cls):
            return rule
    return None


def _masked_rows(node, dy) -> np.ndarray:
    """Any row-independent node: its backward on δ kept to one row at a time (before the real one)."""
    n = dy.shape[0]
    out = np.empty((n, node.size), dtype=dy.dtype)
    one = np.zeros_like(dy)
    for i in range(n):
        one[i] = dy[i]
        node.backward(one)
        out[i] = np.concatenate([getattr(node, "d" + p).reshape(-1) for p, _ in node.params])
        one[i] = 0.0
    return out


def node_rows(node, dy: np.ndarray, run):
    """(dx, rows): the node's backward ``run()`` and its per-row gradient terms (N, node.size)."""
    rule = _rule(node)
    if rule is None:
        rows = _masked_rows(node, dy)
        return run(), rows
    dx = run()
    parts = rule(node, dy)
    n = dy.shape[0]
    return dx, np.concatenate([parts[p].reshape(n, -1) for p, _ in node.params], axis=1)


def _check_rows(model, who: str) -> None:
    coupled = [n.name for n in model.nodes if n.couples_rows]
    if coupled:
        raise ValueError(f"{who}: {', '.join(coupled)} normalises over the batch in training mode, so one "
                         "example's gradient depends on the others; per-example gradients are undefined")
    if model.loss is None:
        raise TypeError(f"{who}: the graph ends in {model.output!r}, not a loss node")


def _chunks(model, X, y, sample_weight, theta, batch_size, who) -> tuple:
    """N and a list of (rows, X, y, w, m) per chunk, after the data is checked and theta loaded."""
    _check_rows(model, who)
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) != batch_size
                                   or batch_size < 1):
        raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}")
    model._load(model.theta if theta is None else theta)
    X, y, sample_weight = model._check_data(X, y, sample_weight)
    n = X.shape[0]
    bs = n if batch_size is None else int(batch_size)
    chunks = []
    for start in range(0, n, bs):
        s = slice(start, min(start + bs, n))
        w = None if sample_weight is None else sample_weight[s]
        m = s.stop - s.start if w is None else float(w.sum())
        if m > 0:  # rows of weight 0 contribute 0
            chunks.append((s, X[s], y[s], w, m))
    return n, chunks


def _pass(model, X, y, w, visit) -> None:
    vals = model._forward(X, model._train_plan)
    model.loss.forward(vals[model._loss_index], y, w)
    backward_visiting(model, model.loss.backward(), visit)


def per_example_grads(model, X, y, *, theta=None, sample_weight=None, batch_size=None) -> np.ndarray:
    """The (N, n_params) per-example gradients: row n is w_n ∇ℓ_n (no l2 term).

    One forward and one backward pass per chunk of ``batch_size`` rows (all rows by default); the
    rows sum, divided by Σ w (by N unweighted), to ``loss_and_grad``'s gradient without the l2 term.

    Parameters
    ----------
    model : Graph
        A graph ending in a loss node, with no node that couples rows in training mode (BatchNorm).
    X, y : ndarray
        Examples and targets, as for ``loss_and_grad``.
    theta : ndarray (n_params,), optional
        The point (copied into ``model.theta``); default the model's own.
    sample_weight : ndarray (N,), optional
        Row weights w_n (row n is then w_n ∇ℓ_n).
    batch_size : int, optional
        Rows per pass, to bound the memory of the node-wise terms.

    Returns
    -------
    ndarray (N, n_params)

    Raises
    ------
    ValueError
        A node couples the rows (BatchNorm in training mode), or bad input.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((6, 4)), np.arange(6) % 3
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> G = tg.per_example_grads(model, X, y)
    >>> G.shape
    (6, 15)
    >>> bool(np.allclose(G.mean(axis=0), model.loss_and_grad(model.theta, X, y)[1]))
    True
    """
    n, chunks = _chunks(model, X, y, sample_weight, theta, batch_size, "per_example_grads")
    out = np.zeros((n, model.n_params), model.dtype)
    for s, Xc, yc, w, m in chunks:
        def visit(node, dy, run, s=s, m=m):
            dx, rows = node_rows(node, dy, run)
            np.multiply(rows, m, out=out[s, node.start:node.stop])
            return dx
        _pass(model, Xc, yc, w, visit)
    return out


def per_example_grad_norms(model, X, y, *, theta=None, sample_weight=None, batch_size=None) -> np.ndarray:
    """‖w_n ∇ℓ_n‖², (N,), without forming the (N, n_params) array.

    Dense layers on (N, n_in) inputs use Goodfellow's identity ‖a_n δ_nᵀ‖² = ‖a_n‖²‖δ_n‖²; other
    nodes form their own (N, node.size) block, one node at a time.

    Parameters
    ----------
    model, X, y, theta, sample_weight, batch_size
        As for ``per_example_grads``.

    Returns
    -------
    ndarray (N,)

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> X, y = np.random.default_rng(0).standard_normal((6, 4)), np.arange(6) % 3
    >>> model = tg.Sequential([tg.Dense(4, 3), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    >>> norms = tg.per_example_grad_norms(model, X, y)
    >>> bool(np.allclose(norms, (tg.per_example_grads(model, X, y) ** 2).sum(axis=1)))
    True
    """
    n, chunks = _chunks(model, X, y, sample_weight, theta, batch_size, "per_example_grad_norms")
    out = np.zeros(n, model.dtype)
    for s, Xc, yc, w, m in chunks:
        def visit(node, dy, run, s=s, m=m):
            if isinstance(node, Dense) and node.x_shape is None:
                dx = run()
                dd = np.einsum("no,no->n", dy, dy)
                out[s] += m * m * dd * (np.einsum("ni,ni->n", node.x, node.x) + 1.0)
                return dx
            dx, rows = node_rows(node, dy, run)
            out[s] += m * m * np.einsum("np,np->n", rows, rows)
            return dx
        _pass(model, Xc, yc, w, visit)
    return out


def gradient_variance(model, X, y, *, theta=None, sample_weight=None, batch_size=None) -> np.ndarray:
    """Per-parameter variance of the per-example gradients ∇ℓ_n over the rows (weighted by w_n).

    Var = Σ w_n (∇ℓ_n − ḡ)² / Σ w, ḡ the gradient (no l2 term); its sum over parameters is the trace
    of the gradient noise's covariance (a minibatch of B rows drawn with replacement has 1/B of it).

    Parameters
    ----------
    model, X, y, theta, sample_weight, batch_size
        As for ``per_example_grads``.

    Returns
    -------
    ndarray (n_params,)
    """
    s1 = np.zeros(model.n_params)
    s2 = np.zeros(model.n_params)
    total = 0.0
    for s, Xc, yc, w, m in _chunks(model, X, y, sample_weight, theta, batch_size, "gradient_variance")[1]:
        rows = np.zeros((Xc.shape[0], model.n_params), model.dtype)

        def visit(node, dy, run, rows=rows, m=m):
            dx, r = node_rows(node, dy, run)
            np.multiply(r, m, out=rows[:, node.start:node.stop])
            return dx
        _pass(model, Xc, yc, w, visit)
        s1 += rows.sum(axis=0)
        if w is None:
            s2 += np.einsum("np,np->p", rows, rows)
        else:  # rows are w ∇ℓ: Σ w (∇ℓ)² = Σ rows² / w over the rows that weigh
            k = w > 0
            s2 += np.einsum("np,np->p", rows[k], rows[k] / w[k, None])
        total += m
    mean = s1 / total
    return np.maximum(s2 / total - mean * mean, 0.0)
