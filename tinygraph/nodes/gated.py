"""Gated recurrent layers (contract in ``tinygraph.nodes.node``): LSTM and GRU.

Both run on the frame of ``tinygraph.nodes.recurrent`` (time-major buffers, one GEMM for the input
projection and each parameter gradient, the R-backward as the backward loop plus sources); each
class here gives its cell's steps forward, backward and R-forward, and the sources of its R-backward.
"""
from __future__ import annotations

import numpy as np

from .recurrent import _Recurrent

__all__ = ["GRU", "LSTM"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = ½ tanh(½x) + ½ in place (``step``'s gates, the formula of the training loops)."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


class LSTM(_Recurrent):
    """Long short-term memory (torch.nn.LSTM's gates i, f, g, o).

    forward:  [i, f, g, o]_t = [σ, σ, tanh, σ](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
              c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t),   h_0 = c_0 = 0
    backward: dh_t = dy_t + D_{t+1} W_hh,   dc_t = dh_t ⊙ o ⊙ (1 - tanh²c_t) + dc_{t+1} ⊙ f_{t+1}
              D_t = [dc g, dc c_{t-1}, dc i, dh tanh(c_t)] ⊙ s_t  (s: each gate's slope, σ(1-σ) or 1-g²)
    R-forward: R{a_t} as for SimpleRNN, R{gates} = s ⊙ R{a_t}, R{c_t} = R{f} c_{t-1} + f R{c_{t-1}}
              + R{i} g + i R{g},  R{h_t} = R{o} tanh(c_t) + o (1 - tanh²c_t) R{c_t}
    R-backward: the backward loop on R{dy} with sources D_{t+1} V_hh (dh), dh R{o(1-tanh²c)} +
              dc_{t+1} R{f_{t+1}} (dc), and [dc R{g}, dc R{c_{t-1}}, dc R{i}, dh R{tanh c}] ⊙ s + U ⊙ R{s} (D).
    x: (N, T, F); y: (N, H), or (N, T, H) with return_sequences.
    ``forget_bias`` (1 by default, Jozefowicz et al. 2015) is written into b_ih's forget block after
    ``init`` (b_hh's is zeroed); None keeps the scheme's draw.

    Parameters
    ----------
    units : int
        H, the size of the hidden state (a positive integer).
    return_sequences : bool, default False
        Output every step's h_t, (N, T, H), instead of the last one, (N, H).
    init : {"glorot", "uniform"} or None, default None
        "glorot" (Keras): W_ih Glorot-uniform, each gate's W_hh block orthogonal, biases 0;
        "uniform" (PyTorch): everything U(±1/√H). None means "glorot".
    forget_bias : float or None, default 1.0
        The value of b_ih's forget block after initialisation (b_hh's block is zeroed); None keeps
        the scheme's draw.
    name : str, optional
        The node's name in the graph.
    trainable : bool, default True
        False freezes the parameters (their gradient is zero).

    Raises
    ------
    ValueError
        ``units`` not a positive integer, an unknown ``init``, or (in ``build``) an input that is
        not (N, T, F).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.LSTM(4, return_sequences=True)], input_shape=(3, 5), random_state=0)
    >>> X = np.random.default_rng(0).standard_normal((2, 3, 5))      # N = 2, T = 3, F = 5
    >>> model.forward(X).shape
    (2, 3, 4)
    >>> model.theta.shape     # 4 gates: W_ih 16x5, W_hh 16x4, b_ih 16, b_hh 16
    (176,)
    """

    n_gates = 4

    def __init__(self, units: int, *, return_sequences: bool = False, init: str | None = None,
                 forget_bias: float | None = 1.0, name: str | None = None, trainable: bool = True):
        super().__init__(units, return_sequences=return_sequences, init=init, name=name,
                         trainable=trainable)
        self.forget_bias = None if forget_bias is None else float(forget_bias)

    def init(self, rng: np.random.Generator, default=None) -> None:
        super().init(rng, default)
        if self.forget_bias is not None:
            H = self.units
            self.b_ih[H:2 * H], self.b_hh[H:2 * H] = self.forget_bias, 0.0

    def _gates(self, a):
        H = self.units
        return a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]

    def _forward_spec(self, N, T):
        H = self.units
        return {"c": (T + 1, N, H), "tc": (T, N, H), "tmp": (N, 4 * H), "sl": (T, N, 4 * H),
                "otc": (T, N, H), "P": (T, N, 4 * H), "Ws": (H, 4 * H), "m": (2, 4 * H)}

    def _steps(self, ws, T):
        # σ(x) = ½ tanh(½x) + ½: the pre-activations of i, f, o are halved up front (exact in binary:
        # a scaled copy of W_hh, a *= m), so each step takes one tanh over all four gates and one
        # affine map, with no clip and no overflow guard. The copy is W_hhᵀ laid out contiguously:
        # BLAS runs h W_hhᵀ 15–20% faster from it than from the transposed view
        a, h, c, tc, tmp, Ws, m = ws["a"], ws["h"], ws["c"], ws["tc"], ws["tmp"], ws["Ws"], ws["m"]
        H = self.units
        c[0] = 0.0
        m[0] = 0.5
        m[0, 2 * H:3 * H] = 1.0
        np.subtract(1.0, m[0], out=m[1])  # the affine map's shift: ½ for σ gates, 0 for g
        np.multiply(self.W_hh.T, m[0], out=Ws)
        a += self.b_hh  # for every step at once
        a *= m[0]
        gate, cell = a.reshape(a.shape[:2] + (4, H)), tmp[:, :H]
        for t in range(T):
            at = a[t]
            if t:
                at += np.matmul(h[t], Ws, out=tmp)
            np.tanh(at, out=at)
            at *= m[0]
            at += m[1]
            i, f, g, o = gate[t, :, 0], gate[t, :, 1], gate[t, :, 2], gate[t, :, 3]
            np.multiply(f, c[t], out=c[t + 1])
            c[t + 1] += np.multiply(i, g, out=cell)
            np.tanh(c[t + 1], out=tc[t])
            np.multiply(o, tc[t], out=h[t + 1])

    def _derive(self, ws):
        """Slopes sl = [σ', σ', 1 - g², σ'], o(1 - tanh²c), and P = sl ⊙ [g, c_{t-1}, i, tanh c]:
        the factors the backward step multiplies dc and dh by, made for every step at once."""
        a, sl, P, H = ws["a"], ws["sl"], ws["P"], self.units
        np.subtract(1.0, a, out=sl)
        sl *= a
        g = a[..., 2 * H:3 * H]
        np.multiply(g, g, out=sl[..., 2 * H:3 * H])
        np.subtract(1.0, sl[..., 2 * H:3 * H], out=sl[..., 2 * H:3 * H])
        otc = np.multiply(ws["tc"], ws["tc"], out=ws["otc"])
        np.subtract(1.0, otc, out=otc)
        otc *= a[..., 3 * H:]
        T = a.shape[0]
        np.multiply(sl[..., :H], g, out=P[..., :H])
        np.multiply(sl[..., H:2 * H], ws["c"][:T], out=P[..., H:2 * H])
        np.multiply(sl[..., 2 * H:3 * H], a[..., :H], out=P[..., 2 * H:3 * H])
        np.multiply(sl[..., 3 * H:], ws["tc"], out=P[..., 3 * H:])

    def _backward_spec(self, N, T):
        H = self.units
        return {"D": (T, N, 4 * H), "dc": (T, N, H), "tmp": (N, H)}

    def _back(self, dy, fw, ws, T, src):
        D, dh, dc, tmp = ws["D"], ws["dh"], ws["dc"], ws["tmp"]
        a, otc, H = fw["a"], fw["otc"], self.units
        P = fw["P"].reshape(T, -1, 4, H)
        Dg = D.reshape(T, -1, 4, H)
        f = a[..., H:2 * H]
        for t in range(T - 1, -1, -1):
            self._dh_at(dy, D, dh, t, T, src)
            np.multiply(dh[t], otc[t], out=dc[t])
            if t < T - 1:
                dc[t] += np.multiply(dc[t + 1], f[t + 1], out=tmp)
            if "c" in src:
                dc[t] += src["c"][t]
            # D = [dc g, dc c_{t-1}, dc i, dh tanh c] ⊙ sl, in two products
            np.multiply(dc[t, :, None], P[t, :, :3], out=Dg[t, :, :3])
            np.multiply(dh[t], P[t, :, 3], out=Dg[t, :, 3])
            if "D" in src:
                D[t] += src["D"][t]

    def _rforward_spec(self, N, T):
        H = self.units
        return {"rc": (T + 1, N, H), "tmp": (N, 4 * H)}

    def _rsteps(self, fw, ws, V, T):
        ra, rh, rc, tmp = ws["ra"], ws["rh"], ws["rc"], ws["tmp"]
        a, c, tc, otc, sl = fw["a"], fw["c"], fw["tc"], fw["otc"], fw["sl"]
        H = self.units
        self._add_rhidden(ra, fw, V, T)
        rc[0] = 0.0
        for t in range(T):
            rat = ra[t]
            if t:
                rat += np.matmul(rh[t], self.W_hh.T, out=tmp)
            rat *= sl[t]  # R{gates}
            i, f, g, _ = self._gates(a[t])
            ri, rf, rg, ro = self._gates(rat)
            np.multiply(rf, c[t], out=rc[t + 1])
            rc[t + 1] += np.multiply(f, rc[t], out=tmp[:, :H])
            rc[t + 1] += np.multiply(ri, g, out=tmp[:, :H])
            rc[t + 1] += np.multiply(i, rg, out=tmp[:, :H])
            np.multiply(ro, tc[t], out=rh[t + 1])
            rh[t + 1] += np.multiply(otc[t], rc[t + 1], out=tmp[:, :H])

    def _sources(self, V, fw, rf, bw, T):
        a, tc, sl = fw["a"], fw["tc"], fw["sl"]
        _, _, g, o = self._gates(a)
        rg = rf["ra"]  # R{gates}
        ri, rff, rgg, ro = self._gates(rg)
        dh, dc = bw["dh"], bw["dc"]
        stc = 1.0 - tc * tc
        rtc = stc * rf["rc"][1:]
        rotc = ro * stc - 2.0 * o * tc * rtc
        ec = dh * rotc
        ec[:-1] += dc[1:] * rff[1:]
        bend = 1.0 - 2.0 * a
        bend[..., 2 * self.units:3 * self.units] = -2.0 * g
        eD = np.concatenate([dc * rgg, dc * rf["rc"][:-1], dc * ri, dh * rtc], axis=-1)
        eD *= sl
        U = np.concatenate([dc * g, dc * fw["c"][:T], dc * a[..., :self.units], dh * tc], axis=-1)
        eD += U * bend * rg
        return {"h": self._next_dh(bw["D"], V["W_hh"], T), "c": ec, "D": eD}

    _carried = 2

    def _cell(self, a, state):
        """``step``'s recurrence: a = W_ih x_t + b_ih in, (h_t, c_t) out, as ``_steps`` computes them."""
        h, c = state
        a += h @ self.W_hh.T
        a += self.b_hh
        i, f, g, o = self._gates(a)
        for s in (i, f, o):  # σ(x) = ½ tanh(½x) + ½, as _steps
            _sigmoid(s)
        np.tanh(g, out=g)
        c = f * c + i * g
        return o * np.tanh(c), c

    def get_config(self) -> dict:
        return {"units": self.units, "forget_bias": self.forget_bias, **super().get_config()}


class GRU(_Recurrent):
    """Gated recurrent unit (torch.nn.GRU's gates r, z, n).

    forward:  [r, z]_t = σ(W_i[rz] x_t + b_i[rz] + A[rz]_t),  A_t = W_hh h_{t-1} + b_hh
              n_t = tanh(W_in x_t + b_in + r_t ⊙ An_t),  h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    backward: dh_t = dy_t + Dh_{t+1} W_hh + dh_{t+1} z_{t+1}
              dan = dh (1 - z) sₙ,  daz = dh (h_{t-1} - n) s_z,  dar = dan An sᵣ
              Dx_t = [dar, daz, dan],  Dh_t = [dar, daz, dan r]   (s: slopes σ(1-σ), 1-n²)
    R-forward: R{A_t} = V_hh h_{t-1} + W_hh R{h_{t-1}} + Vb_hh,  R{r, z} = s R{a},
              R{n} = sₙ (R{ax_n} + R{r} An + r R{An}),  R{h_t} = R{z}(h_{t-1} - n) + (1 - z) R{n} + z R{h_{t-1}}
    R-backward: the backward loop on R{dy} with sources for dh, dan, daz, dar and Dhn
    (``_sources`` spells each out).
    x: (N, T, F); y: (N, H), or (N, T, H) with return_sequences.

    Parameters
    ----------
    units : int
        H, the size of the hidden state (a positive integer).
    return_sequences : bool, default False
        Output every step's h_t, (N, T, H), instead of the last one, (N, H).
    init : {"glorot", "uniform"} or None, default None
        "glorot" (Keras): W_ih Glorot-uniform, each gate's W_hh block orthogonal, biases 0;
        "uniform" (PyTorch): everything U(±1/√H). None means "glorot".
    name : str, optional
        The node's name in the graph.
    trainable : bool, default True
        False freezes the parameters (their gradient is zero).

    Raises
    ------
    ValueError
        ``units`` not a positive integer, an unknown ``init``, or (in ``build``) an input that is
        not (N, T, F).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.GRU(4)], input_shape=(3, 5), random_state=0)
    >>> X = np.random.default_rng(0).standard_normal((2, 3, 5))      # N = 2, T = 3, F = 5
    >>> model.forward(X).shape
    (2, 4)
    >>> model.theta.shape     # 3 gates: W_ih 12x5, W_hh 12x4, b_ih 12, b_hh 12
    (132,)
    """

    n_gates = 3

    def _forward_spec(self, N, T):
        H = self.units
        return {"ah": (T, N, 3 * H), "tmp": (N, H), "sl": (T, N, 3 * H), "k": (T, N, 3 * H),
                "Ws": (H, 3 * H)}

    def _steps(self, ws, T):
        # σ(x) = ½ tanh(½x) + ½, with r and z's pre-activations halved up front (exact in binary:
        # their rows of W_hh in a scaled copy, laid out as W_hhᵀ for BLAS, their columns of a and
        # their b_hh added once)
        a, ah, h, tmp, Ws, H = ws["a"], ws["ah"], ws["h"], ws["tmp"], ws["Ws"], self.units
        np.multiply(self.W_hh[:2 * H].T, 0.5, out=Ws[:, :2 * H])
        Ws[:, 2 * H:] = self.W_hh[2 * H:].T
        a[..., :2 * H] += self.b_hh[:2 * H]
        a[..., :2 * H] *= 0.5
        b_hn = self.b_hh[2 * H:]
        for t in range(T):
            at, aht = a[t], ah[t]
            np.matmul(h[t], Ws, out=aht)
            aht[:, 2 * H:] += b_hn
            rz = at[:, :2 * H]
            rz += aht[:, :2 * H]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            n = at[:, 2 * H:]
            n += np.multiply(at[:, :H], aht[:, 2 * H:], out=tmp)
            np.tanh(n, out=n)
            np.subtract(h[t], n, out=tmp)
            tmp *= at[:, H:2 * H]
            np.add(n, tmp, out=h[t + 1])

    def _derive(self, ws):
        """Slopes s = [r(1-r), z(1-z), 1-n²] and the step factors k = [An sᵣ, (h_{t-1} - n) s_z, (1 - z) sₙ]."""
        a, sl, k, H, T = ws["a"], ws["sl"], ws["k"], self.units, ws["a"].shape[0]
        np.subtract(1.0, a, out=sl)
        sl *= a
        n = a[..., 2 * H:]
        np.multiply(n, n, out=sl[..., 2 * H:])
        np.subtract(1.0, sl[..., 2 * H:], out=sl[..., 2 * H:])
        np.multiply(ws["ah"][..., 2 * H:], sl[..., :H], out=k[..., :H])
        np.subtract(ws["h"][:T], n, out=k[..., H:2 * H])
        k[..., H:2 * H] *= sl[..., H:2 * H]
        np.subtract(1.0, a[..., H:2 * H], out=k[..., 2 * H:])
        k[..., 2 * H:] *= sl[..., 2 * H:]

    def _backward_spec(self, N, T):
        return {"D": (T, N, 3 * self.units), "Dh": (T, N, 3 * self.units), "tmp": (N, self.units)}

    def _back(self, dy, fw, ws, T, src):
        D, Dh, dh, tmp = ws["D"], ws["Dh"], ws["dh"], ws["tmp"]
        a, k, H = fw["a"], fw["k"], self.units
        z, K, Dg = a[..., H:2 * H], k.reshape(T, -1, 3, H), D.reshape(T, -1, 3, H)
        for t in range(T - 1, -1, -1):
            self._dh_at(dy, Dh, dh, t, T, src, z, tmp)
            dar, daz, dan = D[t, :, :H], D[t, :, H:2 * H], D[t, :, 2 * H:]
            np.multiply(dh[t, :, None], K[t, :, 1:], out=Dg[t, :, 1:])  # [daz, dan] in one product
            if "n" in src:
                dan += src["n"][t]
            np.multiply(dan, k[t, :, :H], out=dar)
            if "z" in src:
                daz += src["z"][t]
                dar += src["r"][t]
            Dh[t, :, :2 * H] = D[t, :, :2 * H]
            np.multiply(dan, a[t, :, :H], out=Dh[t, :, 2 * H:])
            if "hn" in src:
                Dh[t, :, 2 * H:] += src["hn"][t]

    def _rforward_spec(self, N, T):
        return {"rah": (T, N, 3 * self.units), "tmp": (N, self.units)}

    def _rsteps(self, fw, ws, V, T):
        ra, rah, rh, tmp, H = ws["ra"], ws["rah"], ws["rh"], ws["tmp"], self.units
        a, ah, h, sl = fw["a"], fw["ah"], fw["h"], fw["sl"]
        np.matmul(h[:T], V["W_hh"].T, out=rah)
        rah += V["b_hh"]
        for t in range(T):
            rat, raht = ra[t], rah[t]
            if t:
                raht += rh[t] @ self.W_hh.T
            rat[:, :2 * H] += raht[:, :2 * H]
            rat[:, :2 * H] *= sl[t, :, :2 * H]  # R{r}, R{z}
            rn = rat[:, 2 * H:]
            rn += np.multiply(rat[:, :H], ah[t, :, 2 * H:], out=tmp)
            rn += np.multiply(a[t, :, :H], raht[:, 2 * H:], out=tmp)
            rn *= sl[t, :, 2 * H:]
            z, n = a[t, :, H:2 * H], a[t, :, 2 * H:]
            np.subtract(h[t], n, out=rh[t + 1])
            rh[t + 1] *= rat[:, H:2 * H]
            rh[t + 1] += np.multiply(1.0 - z, rn, out=tmp)
            rh[t + 1] += np.multiply(z, rh[t], out=tmp)

    def _sources(self, V, fw, rf, bw, T):
        H = self.units
        a, ah, h, sl = fw["a"], fw["ah"], fw["h"], fw["sl"]
        r, z, n = a[..., :H], a[..., H:2 * H], a[..., 2 * H:]
        rr, rz, rn = rf["ra"][..., :H], rf["ra"][..., H:2 * H], rf["ra"][..., 2 * H:]
        dh, D = bw["dh"], bw["D"]
        dan = D[..., 2 * H:]
        e_h = self._next_dh(bw["Dh"], V["W_hh"], T)
        e_h[:-1] += dh[1:] * rz[1:]
        dn, dz = dh * (1.0 - z), dh * (h[:T] - n)
        dr = dan * ah[..., 2 * H:]
        return {"h": e_h,
                "n": -dh * rz * sl[..., 2 * H:] - 2.0 * dn * n * rn,
                "z": dh * (rf["rh"][:T] - rn) * sl[..., H:2 * H] + dz * (1.0 - 2.0 * z) * rz,
                "r": dan * rf["rah"][..., 2 * H:] * sl[..., :H] + dr * (1.0 - 2.0 * r) * rr,
                "hn": dan * rr}

    def _cell(self, a, state):
        """``step``'s recurrence: a = W_ih x_t + b_ih in, (h_t,) out, as ``_steps`` computes it."""
        h, H = state[0], self.units
        ah = h @ self.W_hh.T
        ah += self.b_hh
        rz = _sigmoid(np.add(a[:, :2 * H], ah[:, :2 * H], out=a[:, :2 * H]))
        n = np.tanh(a[:, 2 * H:] + rz[:, :H] * ah[:, 2 * H:])
        z = rz[:, H:]
        return (n + z * (h - n),)
