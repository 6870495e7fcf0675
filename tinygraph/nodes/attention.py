"""Multi-head self-attention (contract, modes and randomness in ``tinygraph.nodes.node``).

Per head, with c = 1/sqrt(d), d = E/h, and A the allowed (query, key) pairs (causal and key mask):

    [q k v] = x W_qkvᵀ + b_qkv          S = c q kᵀ  (−∞ outside A)      P = softmax_keys(S)
    O = (P ⊙ m) v                        y = concat_heads(O) W_oᵀ + b_o     (m: dropout mask or 1)

Backward (g = dy W_o is the gradient of the concatenated heads):
    dW_o = dyᵀ O,  db_o = Σ dy,  dv = (P ⊙ m)ᵀ g,  dP = (g vᵀ) ⊙ m,
    dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dq = c dS k,  dk = c dSᵀ q,
    dW_qkv = dqkvᵀ x,  db_qkv = Σ dqkv,  dx = dqkv W_qkv.
R-forward (direction V of the parameters, R{x}):
    R{qkv} = R{x} W_qkvᵀ + x VW_qkvᵀ + Vb_qkv,  R{S} = c (R{q} kᵀ + q R{k}ᵀ),
    R{P} = P ⊙ (R{S} − rowsum(P ⊙ R{S})),  R{O} = (R{P} ⊙ m) v + (P ⊙ m) R{v},
    R{y} = R{O} W_oᵀ + O VW_oᵀ + Vb_o.
R-backward: the backward applied to R{dy}, plus the second-order terms (each linear in dy, all
dropped for Gauss-Newton):  R{g} += dy VW_o,  R{dW_o} += dyᵀ R{O},  R{dP} += (g R{v}ᵀ) ⊙ m,
R{dv} += (R{P} ⊙ m)ᵀ g,  R{dS} += R{P} ⊙ (dP − rowsum(dP ⊙ P)) − P ⊙ rowsum(dP ⊙ R{P}),
R{dq} += c dS R{k},  R{dk} += c dSᵀ R{q},  R{dW_qkv} += dqkvᵀ R{x},  R{dx} += dqkv VW_qkv.
A query with no allowed key (every key masked) attends to nothing: its P row is 0, so its head
output is 0 and y = b_o there (PyTorch returns NaN for such rows).
"""
from __future__ import annotations

import math

import numpy as np

from .initializers import get_initializer
from .node import Node

__all__ = ["MultiHeadAttention"]


def _rowsum(a: np.ndarray) -> np.ndarray:
    """Σ over the last axis, keepdims, as a product with a ones vector: BLAS sums the short rows of
    (N, h, T, T) several times faster than ``np.sum(axis=-1)``."""
    return np.matmul(a, np.ones(a.shape[-1], dtype=a.dtype))[..., None]


def _softmax_masked(S: np.ndarray, allowed) -> np.ndarray:
    """Softmax over the last axis in place; entries outside ``allowed`` get 0, rows with none 0."""
    if allowed is not None:
        np.copyto(S, -np.inf, where=~allowed)
    top = S.max(axis=-1, keepdims=True)
    if allowed is not None:
        top[~np.isfinite(top)] = 0.0  # an all-masked row: exp(−∞ − 0) = 0, no NaN
    S -= top
    np.exp(S, out=S)
    Z = _rowsum(S)
    if allowed is not None:
        Z[Z == 0.0] = 1.0
    S /= Z
    return S


def _softmax_jvp(P: np.ndarray, U: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """P ⊙ (U − rowsum(P ⊙ U)): the softmax Jacobian (symmetric) applied to U along the last axis."""
    out = np.multiply(P, U, out=out)
    s = _rowsum(out)
    np.subtract(U, s, out=out)
    out *= P
    return out


class MultiHeadAttention(Node):
    """Multi-head scaled dot-product self-attention (``torch.nn.MultiheadAttention(E, h,
    batch_first=True)`` with query = key = value = x), math in the module docstring.

    x, y, dy, dx: (N, T, E); optional second input: a key mask (N, T), 1 where a key may be attended
    and 0 where not (PyTorch's ``key_padding_mask`` inverted). Parameters as PyTorch lays them out,
    so weights copy across: ``W_qkv`` (3E, E) = ``in_proj_weight``, ``b_qkv`` (3E,) = ``in_proj_bias``,
    ``W_o`` (E, E) = ``out_proj.weight``, ``b_o`` (E,) = ``out_proj.bias``.

    Parameters
    ----------
    num_heads : int
        The number of heads h; E must be divisible by it.
    causal : bool, default False
        Mask the future: query t attends to keys 0..t only (GPT's decoder).
    bias : bool, default True
        Learn ``b_qkv`` and ``b_o``.
    dropout : float in [0, 1), default 0.0
        Dropout on the attention weights P in training mode, drawn from the graph's generator.
    init : str or callable, optional
        A scheme ``f(rng, W, b)`` called for (W_qkv, b_qkv) and (W_o, b_o) (b None without bias);
        default: PyTorch's (Xavier-uniform W_qkv, U(±1/sqrt(E)) W_o, zero biases).
    name : str, optional
        The node's name in the graph.
    trainable : bool, default True
        False freezes the parameters.

    Raises
    ------
    ValueError
        ``num_heads`` not a positive integer or not dividing E; ``dropout`` outside [0, 1); inputs
        not (N, T, E) and (N, T); a key mask with values other than 0 and 1.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> errors = tg.check_node_gradients(tg.MultiHeadAttention(2, causal=True), (5, 4))
    >>> max(errors.values()) < 1e-6
    True
    >>> model = tg.Sequential([tg.MultiHeadAttention(2, causal=True)], input_shape=(5, 4), random_state=0)
    >>> model.forward(np.ones((3, 5, 4))).shape
    (3, 5, 4)
    """

    n_inputs = None
    cached = ("x", "qkv", "P", "Pm", "O", "mask", "allowed", "_tri", "rx", "rqkv", "rP", "rO")
    regularized = ("W_qkv", "W_o")

    def __init__(self, num_heads: int, *, causal: bool = False, bias: bool = True, dropout: float = 0.0,
                 init=None, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable, init=init)
        if isinstance(num_heads, bool) or int(num_heads) != num_heads or num_heads < 1:
            raise ValueError(f"MultiHeadAttention: num_heads must be a positive integer, got {num_heads!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention: dropout must be a number in [0, 1), got {dropout!r}")
        self.num_heads, self.causal, self.bias = int(num_heads), bool(causal), bool(bias)
        self.dropout = float(dropout)
        self.stochastic = self.dropout > 0
        if init is not None:
            get_initializer(init)

    def build(self, *in_shapes: tuple) -> tuple:
        if len(in_shapes) not in (1, 2) or len(in_shapes[0]) != 2:
            got = ", ".join("(N, " + ", ".join(map(str, s)) + ")" for s in in_shapes)
            raise ValueError(f"{self.name}: expects x (N, T, E) and optionally a key mask (N, T), got {got}")
        T, E = in_shapes[0]
        if E % self.num_heads:
            raise ValueError(f"{self.name}: the embedding size E = {E} is not divisible by "
                             f"num_heads = {self.num_heads}")
        if len(in_shapes) == 2 and tuple(in_shapes[1]) != (T,):
            raise ValueError(f"{self.name}: the key mask must be (N, {T}) like x's steps, "
                             f"got (N, {', '.join(map(str, in_shapes[1]))})")
        self.E, self.T = E, T
        self.params = (("W_qkv", (3 * E, E)), ("b_qkv", (3 * E,)), ("W_o", (E, E)), ("b_o", (E,)))
        if not self.bias:
            self.params = (self.params[0], self.params[2])
        return (T, E)

    def init(self, rng: np.random.Generator, default=None) -> None:
        b_qkv, b_o = getattr(self, "b_qkv", None), getattr(self, "b_o", None)
        if self.init_scheme is not None:
            scheme = get_initializer(self.init_scheme)
            scheme(rng, self.W_qkv, b_qkv)
            scheme(rng, self.W_o, b_o)
            return
        E = self.E
        lim = math.sqrt(6.0 / (E + 3 * E))  # xavier_uniform_ on the (3E, E) in_proj_weight
        self.W_qkv[...] = rng.uniform(-lim, lim, self.W_qkv.shape)
        self.W_o[...] = rng.uniform(-1 / math.sqrt(E), 1 / math.sqrt(E), self.W_o.shape)
        for b in (b_qkv, b_o):
            if b is not None:
                b[...] = 0.0

    def _heads(self, a: np.ndarray, i: int) -> np.ndarray:
        """The i-th of q, k, v in a (N, T, 3E) array as a (N, h, T, d) view."""
        N, T = a.shape[:2]
        return a.reshape(N, T, 3, self.num_heads, -1)[:, :, i].transpose(0, 2, 1, 3)

    def _allowed(self, x: np.ndarray, key_mask) -> np.ndarray | None:
        T = x.shape[1]
        allowed = None
        if self.causal:
            allowed = getattr(self, "_tri", None)
            if allowed is None or allowed.shape[-1] != T:  # built once per length
                allowed = self._tri = np.tri(T, dtype=bool)[None, None]
        if key_mask is not None:
            if key_mask.shape != x.shape[:2]:
                raise ValueError(f"{self.name}: the key mask must have shape {x.shape[:2]}, got {key_mask.shape}")
            if not np.isin(key_mask, (0, 1)).all():
                raise ValueError(f"{self.name}: the key mask must hold 0 and 1 only, got values "
                                 f"{np.setdiff1d(np.unique(key_mask), (0, 1))[:3]}")
            keys = (key_mask != 0)[:, None, None, :]
            allowed = keys if allowed is None else allowed & keys
        return allowed

    def forward(self, x: np.ndarray, key_mask=None) -> np.ndarray:
        N, T, E = x.shape
        h, d = self.num_heads, E // self.num_heads
        self.x, self.allowed = x, self._allowed(x, key_mask)
        qkv = self.qkv = np.matmul(x.reshape(-1, E), self.W_qkv.T, out=self.buffer("qkv", (N * T, 3 * E)))
        if self.bias:
            qkv += self.b_qkv
        qkv = self.qkv = qkv.reshape(N, T, 3 * E)
        q, k, v = (self._heads(qkv, i) for i in range(3))
        S = np.matmul(q, k.transpose(0, 1, 3, 2), out=self.buffer("P", (N, h, T, T)))
        S *= 1.0 / math.sqrt(d)
        P = self.P = _softmax_masked(S, self.allowed)
        self.mask = None
        if self.training and self.dropout > 0:
            m = self.mask = self.buffer("mask", P.shape)
            self.rng.random(out=m)
            np.greater_equal(m, self.dropout, out=m)
            m *= 1.0 / (1.0 - self.dropout)
        self.Pm = P if self.mask is None else np.multiply(P, self.mask, out=self.buffer("Pm", P.shape))
        O = self.O = self.buffer("O", (N, T, E))
        np.matmul(self.Pm, v, out=O.reshape(N, T, h, d).transpose(0, 2, 1, 3))
        y = np.matmul(O.reshape(-1, E), self.W_o.T, out=self.buffer("y", (N * T, E)))
        if self.bias:
            y += self.b_o
        return y.reshape(N, T, E)

    def _grads(self, dy, qkv, Pm, P, out: str):
        """The backward of the module docstring: (g, dP, dS, dqkv); writes nothing on self."""
        N, T, E = dy.shape
        h, d = self.num_heads, E // self.num_heads
        g = np.matmul(dy.reshape(-1, E), self.W_o).reshape(N, T, h, d).transpose(0, 2, 1, 3)
        v = self._heads(qkv, 2)
        dP = np.matmul(g, v.transpose(0, 1, 3, 2))
        if self.mask is not None:
            dP *= self.mask
        dS = _softmax_jvp(P, dP, self.buffer(out + "S", P.shape))
        dS *= 1.0 / math.sqrt(d)
        dqkv = self.buffer(out, (N, T, 3 * E))
        np.matmul(dS, self._heads(qkv, 1), out=self._heads(dqkv, 0))
        np.matmul(dS.transpose(0, 1, 3, 2), self._heads(qkv, 0), out=self._heads(dqkv, 1))
        np.matmul(Pm.transpose(0, 1, 3, 2), g, out=self._heads(dqkv, 2))
        return g, dP, dS, dqkv

    def backward(self, dy: np.ndarray):
        E = self.E
        dy2 = dy.reshape(-1, E)
        np.matmul(dy2.T, self.O.reshape(-1, E), out=self.dW_o)
        _, _, _, dqkv = self._grads(dy, self.qkv, self.Pm, self.P, "dqkv")
        dq2 = dqkv.reshape(-1, 3 * E)
        np.matmul(dq2.T, self.x.reshape(-1, E), out=self.dW_qkv)
        if self.bias:
            np.add.reduce(dy2, axis=0, out=self.db_o)
            np.add.reduce(dq2, axis=0, out=self.db_qkv)
        dx = None
        if self.need_dx:
            dx = np.matmul(dq2, self.W_qkv, out=self.buffer("dx", (dq2.shape[0], E))).reshape(self.x.shape)
        return dx if len(self.inputs) == 1 else (dx, None)

    def rforward(self, v: np.ndarray, *rxs):
        V, rx = self.views(v), rxs[0]
        N, T, E = self.x.shape
        d = E // self.num_heads
        self.rx = rx
        rqkv = np.matmul(self.x.reshape(-1, E), V["W_qkv"].T).reshape(N, T, 3 * E)
        if self.bias:
            rqkv += V["b_qkv"]
        if rx is not None:
            rqkv += np.matmul(rx, self.W_qkv.T)
        self.rqkv = rqkv
        q, k, _ = (self._heads(self.qkv, i) for i in range(3))
        rq, rk, rv = (self._heads(rqkv, i) for i in range(3))
        rS = (np.matmul(rq, k.transpose(0, 1, 3, 2)) + np.matmul(q, rk.transpose(0, 1, 3, 2))) / math.sqrt(d)
        self.rP = _softmax_jvp(self.P, rS)
        rPm = self.rP if self.mask is None else self.rP * self.mask
        rO = np.matmul(rPm, self._heads(self.qkv, 2)) + np.matmul(self.Pm, rv)
        self.rO = rO.transpose(0, 2, 1, 3).reshape(N, T, E)
        ry = np.matmul(self.rO, self.W_o.T) + np.matmul(self.O, V["W_o"].T)
        if self.bias:
            ry += V["b_o"]
        return ry

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray):
        V, H = self.views(v), self.views(hv)
        N, T, E = rdy.shape
        h, d = self.num_heads, E // self.num_heads
        c = 1.0 / math.sqrt(d)
        rdy2 = rdy.reshape(-1, E)
        H["W_o"][...] = rdy2.T @ self.O.reshape(-1, E)
        # the backward of R{dy}: first-order terms (Gauss-Newton's whole product)
        rdqkv = self._grads(rdy, self.qkv, self.Pm, self.P, "rdqkv")[3]
        if dy is not None:
            g, dP, dS, dqkv = self._grads(dy, self.qkv, self.Pm, self.P, "rdqkv2")
            dy2 = dy.reshape(-1, E)
            H["W_o"] += dy2.T @ self.rO.reshape(-1, E)
            rg_extra = (dy2 @ V["W_o"]).reshape(N, T, h, d).transpose(0, 2, 1, 3)
            rq, rk, rv = (self._heads(self.rqkv, i) for i in range(3))
            q, k, vv = (self._heads(self.qkv, i) for i in range(3))
            m = 1.0 if self.mask is None else self.mask
            rPm = self.rP * m
            # the second-order parts of R{dP}; its first-order part went through _grads(rdy) above
            rdP2 = (np.matmul(rg_extra, vv.transpose(0, 1, 3, 2)) + np.matmul(g, rv.transpose(0, 1, 3, 2))) * m
            rdS = _softmax_jvp(self.P, rdP2) * c
            rdS += c * (self.rP * (dP - (dP * self.P).sum(axis=-1, keepdims=True))
                        - self.P * (dP * self.rP).sum(axis=-1, keepdims=True))
            self._heads(rdqkv, 0)[...] += np.matmul(rdS, k) + np.matmul(dS, rk)
            self._heads(rdqkv, 1)[...] += (np.matmul(rdS.transpose(0, 1, 3, 2), q)
                                           + np.matmul(dS.transpose(0, 1, 3, 2), rq))
            self._heads(rdqkv, 2)[...] += (np.matmul(self.Pm.transpose(0, 1, 3, 2), rg_extra)
                                           + np.matmul(rPm.transpose(0, 1, 3, 2), g))
        rdq2 = rdqkv.reshape(-1, 3 * E)
        H["W_qkv"][...] = rdq2.T @ self.x.reshape(-1, E)
        if dy is not None and self.rx is not None:
            H["W_qkv"] += dqkv.reshape(-1, 3 * E).T @ self.rx.reshape(-1, E)
        if self.bias:
            H["b_o"][...] = rdy2.sum(axis=0)
            H["b_qkv"][...] = rdq2.sum(axis=0)
        rdx = None
        if self.need_dx:
            rdx = rdq2 @ self.W_qkv
            if dy is not None:
                rdx += dqkv.reshape(-1, 3 * E) @ V["W_qkv"]
            rdx = rdx.reshape(N, T, E)
        return rdx if len(self.inputs) == 1 else (rdx, None)

    def geometry(self) -> str:
        return f"{self.num_heads} heads" + (", causal" if self.causal else "")

    def get_config(self) -> dict:
        init = self.init_scheme if isinstance(self.init_scheme, str) else None
        return {"num_heads": self.num_heads, "causal": self.causal, "bias": self.bias,
                "dropout": self.dropout, "init": init, **super().get_config()}
