"""Kronecker factors of the Fisher, per weight matrix: F_M ≈ A ⊗ G (Martens & Grosse 2015).

A weight matrix with its bias is seen as M (d_in + 1, d_out), the layer's pre-activations as
s = ā M with ā = [a, 1]; per position its gradient is ā gᵀ, g = ∂ℓ/∂s. K-FAC approximates the
Fisher block E[vec(Σ ā gᵀ) vec(Σ ā gᵀ)ᵀ] by

    A = E_n[Σ_l ā_l ā_lᵀ],     G = E_n[(1/L) Σ_l g_l g_lᵀ],

L the positions per example: 1 for Dense; Ho·Wo for Conv2D (KFC, Grosse & Martens 2016: ā_l the
im2col patch at output position l, derivatives spatially uncorrelated); T steps for a recurrent
layer's two matrices and a Dense on sequences (Martens, Ba & Johnson 2018, independence across
time). The forward caches give the ā rows; the g rows come from a backward pass whose loss gradient
is handed in (targets sampled from the model for the Fisher), read as each node sees its δ.
With row weights w (the loss's Σ w_n ℓ_n / m) the expectations are weighted by w_n / m.

Blocks (M's layout from the node's parameters): Dense [W; b]; Conv2D [W.reshape(O, K)ᵀ; b];
SimpleRNN/LSTM/GRU [W_ihᵀ; b_ih] (ā = x_t, g = the gates' input gradient D_t) and [W_hhᵀ; b_hh]
(ā = h_{t-1}, g = D_t, GRU's hidden-side gradient for its reset gate).
"""
from __future__ import annotations

import numpy as np

from ..nodes import Conv2D, Dense
from ..nodes.recurrent import _Recurrent

__all__ = ["Block", "blocks"]


class Block:
    """One factored weight of ``node``: ``weight`` and ``bias`` parameter names and how M maps to them."""

    def __init__(self, node, weight: str, bias: str, form: str):
        self.node, self.weight, self.bias, self.form = node, weight, bias, form
        shape = dict(node.params)[weight]
        if form == "dense":
            self.d_in, self.d_out = shape
        elif form == "conv":
            self.d_in, self.d_out = int(np.prod(shape[1:])), shape[0]
        else:  # recurrent: W (G·H, d_in)
            self.d_in, self.d_out = shape[1], shape[0]

    def __repr__(self) -> str:
        return f"Block({self.node.name}.{self.weight}, {self.d_in + 1}x{self.d_out})"

    def matrix(self, flat: np.ndarray) -> np.ndarray:
        """M (d_in + 1, d_out) from a flat vector with the model's layout (a new array)."""
        V = self.node.views(flat)
        W = V[self.weight]
        Wm = W if self.form == "dense" else W.reshape(self.d_out, -1).T
        return np.vstack([Wm, V[self.bias][None, :]])

    def write(self, M: np.ndarray, flat: np.ndarray) -> None:
        """M back into the weight and bias views of ``flat``."""
        V = self.node.views(flat)
        W = V[self.weight]
        if self.form == "dense":
            W[...] = M[:-1]
        else:
            W.reshape(self.d_out, -1)[...] = M[:-1].T
        V[self.bias][...] = M[-1]

    def _a_rows(self) -> tuple:
        """(rows (R, d_in), how rows map to examples: 'n' for n-major, 't' for n-minor)."""
        node = self.node
        if self.form == "dense":
            return node.x, "n"
        if self.form == "conv":
            return node.cols.T, ("t" if node.batch_last else "n")
        fw = node._ws["f"]
        T = fw["xt"].shape[0]
        src = fw["xt"] if self.weight == "W_ih" else fw["h"][:T]
        return src.reshape(-1, src.shape[-1]), "t"

    def _g_rows(self, dy: np.ndarray) -> tuple:
        node = self.node
        if self.form == "dense":
            return dy.reshape(-1, self.d_out), "n"
        if self.form == "conv":
            return dy.transpose(0, 2, 3, 1).reshape(-1, self.d_out), "n"
        bw = node._ws["b"]
        D = bw["D"] if self.weight == "W_ih" else bw.get("Dh", bw["D"])
        return D.reshape(-1, self.d_out), "t"

    @staticmethod
    def _per_row(c: np.ndarray, R: int, order: str) -> np.ndarray:
        """Per-example factors c (N,) spread over R rows (n-major: n·L + l; n-minor: l·N + n)."""
        L = R // c.size
        return np.repeat(c, L) if order == "n" else np.tile(c, L)

    def a_factor(self, w: np.ndarray | None, n: int) -> np.ndarray:
        """A = Σ_n (w_n/m) Σ_l ā ā ᵀ, (d_in + 1)²."""
        a, order = self._a_rows()
        R = a.shape[0]
        aw = a / n if w is None else a * self._per_row(w / w.sum(), R, order)[:, None]
        out = np.empty((self.d_in + 1,) * 2, dtype=np.float64)
        out[:-1, :-1] = aw.T @ a
        out[:-1, -1] = out[-1, :-1] = aw.sum(axis=0)
        out[-1, -1] = R / n if w is None else float(self._per_row(w / w.sum(), R, order).sum())
        return out

    def g_factor(self, dy: np.ndarray, w: np.ndarray | None, n: int) -> np.ndarray:
        """G = Σ_n (w_n/m) (1/L) Σ_l g gᵀ from the node's δ = (w_n/m) g (the loss's scaling)."""
        g, order = self._g_rows(dy)
        R = g.shape[0]
        L = R // n
        if w is None:
            return (g.T @ g) * (n / L)
        c = np.divide(w.sum(), w, out=np.zeros(w.size), where=w > 0) / L  # (m/w_n)/L undoes δ's w_n/m once
        return (g * self._per_row(c, R, order)[:, None]).T @ g


def blocks(model) -> list:
    """The factored weights of the model's trainable Dense, Conv2D and recurrent nodes, in order."""
    out = []
    for node in model.nodes:
        if not node.trainable or node.stop == node.start:
            continue
        if isinstance(node, Dense):
            out.append(Block(node, "W", "b", "dense"))
        elif isinstance(node, Conv2D):
            out.append(Block(node, "W", "b", "conv"))
        elif isinstance(node, _Recurrent):
            out += [Block(node, "W_ih", "b_ih", "recurrent"), Block(node, "W_hh", "b_hh", "recurrent")]
    return out
