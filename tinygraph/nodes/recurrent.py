"""Recurrent layers over sequences (contract in ``tinygraph.nodes.node``): the shared frame and SimpleRNN.

LSTM and GRU, on the same frame, are in ``tinygraph.nodes.gated``.

Input x: (N, T, F); output the last hidden state h_T (N, H), or every h_t (N, T, H) with
``return_sequences=True``; the initial state is 0. Parameters have PyTorch's shapes and gate order,
so weights copy across both ways: W_ih (G·H, F), W_hh (G·H, H), b_ih and b_hh (G·H,), G gates.

Every pass works in time-major (T, N, ·) buffers the node owns: the input projection of all steps is
one GEMM (x W_ihᵀ + b_ih), so are the parameter gradients after the loop through time
(dW_ih = Σ_t Dx_tᵀ x_t, dW_hh = Σ_t Dh_tᵀ h_{t-1}, Dx and Dh the gradients of the cell's
pre-activations) and dx = Dx W_ih; only the recurrence itself steps through time.

R-operators: ``rforward`` runs forward in time beside the forward pass (R{h_t} from R{h_{t-1}}).
``rbackward`` with dy=None (Gauss-Newton) is the plain backward of R{dy}. With dy it differentiates
the backward recurrence: that is again the backward loop, run on R{dy}, plus *source* terms that
hold only forward, R-forward and backward values (each cell's ``_sources`` lists them, all computed
for every step at once), plus the cross terms Dxᵀ R{x}, Dhᵀ R{h}, Dx V_ih.

Saturated gates (σ of ±1000) make products of tiny numbers: the loops let those underflow to 0,
their exact limit, without the underflow flag; overflow and invalid operations are never ignored.
"""
from __future__ import annotations

import math

import numpy as np

from .node import Node

__all__ = ["SimpleRNN"]

INITS = ("glorot", "uniform")


def _orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


class _Recurrent(Node):
    """Shared parts: parameters, buffers, the input and parameter GEMMs, the R-backward frame.

    A cell defines ``n_gates``, ``_steps`` (forward), ``_derive`` (slopes after a forward),
    ``_back`` (the backward loop, with optional sources), ``_rsteps`` and ``_sources``.
    """

    n_gates = 1
    cached = ("x", "rx", "_ws", "_derived")
    regularized = ("W_ih", "W_hh")  # l2 covers the weight matrices, never the biases
    structural = 0.0  # c > 0: Gauss-Newton products get c·J_hᵀJ_h v (``HessianFree(structural_damping=)``)

    def __init__(self, units: int, *, return_sequences: bool = False, init: str | None = None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable, init=init)
        kind = type(self).__name__
        if isinstance(units, bool) or int(units) != units or units < 1:
            raise ValueError(f"{kind}: units must be a positive integer, got {units!r}")
        if init is not None and init not in INITS:
            raise ValueError(f"{kind}: init must be one of {INITS} or None, got {init!r}")
        self.units, self.return_sequences = int(units), bool(return_sequences)

    def build(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 2:
            raise ValueError(f"{self.name}: expects sequences of shape (N, T, F), got (N, "
                             f"{', '.join(map(str, in_shape))})")
        self.T, self.F = in_shape
        G, H = self.n_gates * self.units, self.units
        self.params = (("W_ih", (G, self.F)), ("W_hh", (G, H)), ("b_ih", (G,)), ("b_hh", (G,)))
        return (self.T, H) if self.return_sequences else (H,)

    def init(self, rng: np.random.Generator, default=None) -> None:
        """glorot (default, as Keras): W_ih Glorot-uniform, each gate's W_hh block orthogonal,
        biases 0. uniform (as PyTorch): everything U(±1/√H)."""
        H = self.units
        if self.init_scheme == "uniform":
            for W in (self.W_ih, self.W_hh, self.b_ih, self.b_hh):
                W[...] = rng.uniform(-1 / math.sqrt(H), 1 / math.sqrt(H), W.shape)
            return
        limit = math.sqrt(6.0 / (self.F + self.W_ih.shape[0]))
        self.W_ih[...] = rng.uniform(-limit, limit, self.W_ih.shape)
        for k in range(self.n_gates):
            self.W_hh[k * H:(k + 1) * H] = _orthogonal(rng, H)
        self.b_ih[...] = self.b_hh[...] = 0.0

    def _work(self, key: str, N: int, spec: dict) -> dict:
        """Views, by name, into one flat buffer per pass (``key``): few buffers, allocated once."""
        sizes = [math.prod(s) for s in spec.values()]
        flat, views, i = self.buffer(key, (sum(sizes),)), {}, 0
        for (k, shape), n in zip(spec.items(), sizes):
            views[k] = flat[i:i + n].reshape(shape)
            i += n
        self.__dict__.setdefault("_ws", {})[key] = views  # dropped when pickled (``cached``)
        return views

    def _dh_at(self, dy, D: np.ndarray, dh: np.ndarray, t: int, T: int, src: dict,
               carry=None, tmp=None) -> np.ndarray:
        """dh_t = D_{t+1} W_hh [+ dh_{t+1} ⊙ carry_{t+1}] (0 at the last step) + dy_t + the source of dh_t,
        written into dh[t]. ``D``: the gradients of the pre-activations W_hh feeds (Dh for GRU);
        ``carry`` (T, N, H): how h_t passes into h_{t+1} directly (GRU's z), with ``tmp`` (N, H) for it."""
        dht = dh[t]
        if t < T - 1:
            np.matmul(D[t + 1], self.W_hh, out=dht)
            if carry is not None:
                dht += np.multiply(dh[t + 1], carry[t + 1], out=tmp)
        else:
            dht[...] = 0.0
        if self.return_sequences:
            dht += dy[:, t]
        elif t == T - 1:
            dht += dy
        if "h" in src:
            dht += src["h"][t]
        return dht

    def _output(self, h: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self.return_sequences:
            np.copyto(out, h[1:].transpose(1, 0, 2))
            return out
        return h[-1]

    def _out_spec(self, N: int, T: int) -> tuple:
        return (N, T, self.units) if self.return_sequences else (0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(under="ignore"):
            return self._forward(x)

    def backward(self, dy: np.ndarray):
        with np.errstate(under="ignore"):
            return self._bptt(dy, {p: getattr(self, "d" + p) for p, _ in self.params}, "b")

    def rforward(self, v: np.ndarray, rx):
        with np.errstate(under="ignore"):
            return self._rforward(v, rx)

    def rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray):
        with np.errstate(under="ignore"):
            return self._rbackward(rdy, dy, v, hv)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        N, T, F = x.shape
        self.x, G, H = x, self.n_gates * self.units, self.units
        ws = self._work("f", N, {"xt": (T, N, F), "a": (T, N, G), "h": (T + 1, N, H),
                                 "y": self._out_spec(N, T), **self._forward_spec(N, T)})
        np.copyto(ws["xt"], x.transpose(1, 0, 2))
        np.matmul(ws["xt"].reshape(T * N, F), self.W_ih.T, out=ws["a"].reshape(T * N, G))
        ws["a"] += self.b_ih
        ws["h"][0] = 0.0
        self._steps(ws, T)
        self._derived = False
        return self._output(ws["h"], ws["y"])

    def _slopes(self) -> dict:
        """The forward pass's workspace with the slopes the backward and R-passes read (made once)."""
        ws = self._ws["f"]
        if not self._derived:
            self._derive(ws)
            self._derived = True
        return ws

    def _bptt(self, dy: np.ndarray, grads: dict, key: str, sources: dict | None = None):
        """The backward loop on ``dy`` into ``grads`` (views by name); returns dx or None."""
        fw = self._slopes()
        N, T, F = self.x.shape
        G, H = self.n_gates * self.units, self.units
        ws = self._work(key, N, {"dh": (T, N, H), "dx": (N, T, F) if self.need_dx else (0,),
                                 **self._backward_spec(N, T)})
        self._back(dy, fw, ws, T, sources or {})
        Dx, Dh = ws["D"].reshape(T * N, G), ws.get("Dh", ws["D"]).reshape(T * N, G)
        np.matmul(Dx.T, fw["xt"].reshape(T * N, F), out=grads["W_ih"])
        np.add.reduce(Dx, axis=0, out=grads["b_ih"])
        # as (hᵀ Dh)ᵀ: BLAS runs that product 5–20% faster than Dhᵀ h
        dWT = np.matmul(fw["h"][:T].reshape(T * N, H).T, Dh, out=self.buffer("dW_hhT", (H, G)))
        np.copyto(grads["W_hh"], dWT.T)
        np.add.reduce(Dh, axis=0, out=grads["b_hh"])
        if not self.need_dx:
            return None
        dxt = np.matmul(Dx, self.W_ih, out=self.buffer("dxt", (T * N, F)))
        np.copyto(ws["dx"], dxt.reshape(T, N, F).transpose(1, 0, 2))
        return ws["dx"]

    def _rforward(self, v: np.ndarray, rx):
        """R{a} = x V_ihᵀ + R{x} W_ihᵀ + V_b + (h_{t-1} V_hhᵀ: the part known before the loop)."""
        fw, V = self._slopes(), self.views(v)
        N, T, F = self.x.shape
        G, H = self.n_gates * self.units, self.units
        ws = self._work("rf", N, {"rxt": (T, N, F) if rx is not None else (0,), "ra": (T, N, G),
                                  "rh": (T + 1, N, H), "ry": self._out_spec(N, T),
                                  **self._rforward_spec(N, T)})
        self.rx = rx
        ra = ws["ra"].reshape(T * N, G)
        np.matmul(fw["xt"].reshape(T * N, F), V["W_ih"].T, out=ra)
        ra += V["b_ih"]
        if rx is not None:
            np.copyto(ws["rxt"], rx.transpose(1, 0, 2))
            ra += ws["rxt"].reshape(T * N, F) @ self.W_ih.T
        ws["rh"][0] = 0.0
        self._rsteps(fw, ws, V, T)
        return self._output(ws["rh"], ws["ry"])

    def _rbackward(self, rdy: np.ndarray, dy, v: np.ndarray, hv: np.ndarray):
        out = self.views(hv)
        if dy is None:  # Gauss-Newton: the node's own curvature dropped, the plain backward of R{dy}
            if not self.structural:
                return self._bptt(rdy, out, "gn")
            # structural damping, Martens & Sutskever 2011: ½c Σ_t ‖R{h_t}‖² added to the quadratic
            rh = self._ws["rf"]["rh"][1:]
            return self._bptt(rdy, out, "gn", {"h": self.structural * rh})
        V, fw, bw, rf = self.views(v), self._ws["f"], self._ws["b"], self._ws["rf"]
        N, T, F = self.x.shape
        G, H = self.n_gates * self.units, self.units
        rdx = self._bptt(rdy, out, "rb", self._sources(V, fw, rf, bw, T))
        Dx, Dh = bw["D"].reshape(T * N, G), bw.get("Dh", bw["D"]).reshape(T * N, G)
        out["W_hh"] += Dh.T @ rf["rh"][:T].reshape(T * N, H)
        if self.rx is not None:
            out["W_ih"] += Dx.T @ rf["rxt"].reshape(T * N, F)
        if rdx is not None:
            rdx += (Dx @ V["W_ih"]).reshape(T, N, F).transpose(1, 0, 2)
        return rdx

    def _add_rhidden(self, ra: np.ndarray, fw: dict, V: dict, T: int) -> None:
        """R{a_t} += V_hh h_{t-1} + Vb_hh for every step at once (cells whose gates take W_hh h + b_hh whole)."""
        ra += V["b_hh"]
        if T > 1:  # h_0 = 0
            ra[1:] += fw["h"][1:T] @ V["W_hh"].T

    def _next_dh(self, D: np.ndarray, V_hh: np.ndarray, T: int) -> np.ndarray:
        """Source of R{dh_t}: D_{t+1} V_hh for t < T-1, 0 at the last step."""
        e = np.zeros(D.shape[:2] + (self.units,), dtype=D.dtype)
        np.matmul(D[1:], V_hh, out=e[:-1])
        return e

    _carried = 1  # arrays the recurrence carries from step to step: h (and c for LSTM)

    def step(self, x: np.ndarray, state: tuple | None = None) -> tuple:
        """One time step with the current parameters: ``(h_t, state_t)`` from x_t and ``state_{t-1}``.

        The state is (h,) for SimpleRNN and GRU, (h, c) for LSTM (torch's ``LSTMCell``); None
        starts from zeros as ``forward`` does, so T steps give forward's h_1 … h_T. Sampling one
        token at a time with it costs O(1) per token, not a forward over the whole window.
        Returns new arrays; the buffers and caches of the training passes are left alone.

        Parameters
        ----------
        x : ndarray (N, F)
            The inputs of this step.
        state : tuple of ndarray (N, H), optional
            The state the previous step returned.

        Returns
        -------
        tuple
            h_t (N, H), and the state to pass to the next step.
        """
        dtype = self.W_ih.dtype
        x = np.asarray(x, dtype=dtype)
        if x.ndim != 2 or x.shape[1] != self.F:
            raise ValueError(f"{self.name}: step expects x of shape (N, {self.F}), got {x.shape}")
        if state is None:
            state = tuple(np.zeros((x.shape[0], self.units), dtype) for _ in range(self._carried))
        if len(state) != self._carried or any(s.shape != (x.shape[0], self.units) for s in state):
            raise ValueError(f"{self.name}: step expects a state of {self._carried} array(s) of shape "
                             f"({x.shape[0]}, {self.units}), got {[np.shape(s) for s in state]}")
        a = x @ self.W_ih.T
        a += self.b_ih
        with np.errstate(under="ignore"):
            state = self._cell(a, state)
        return state[0], state

    def get_config(self) -> dict:
        return {"units": self.units, "return_sequences": self.return_sequences, "init": self.init_scheme,
                **super().get_config()}


class SimpleRNN(_Recurrent):
    """Elman network: h_t = act(a_t), act tanh or relu (torch.nn.RNN).

    forward:   a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,  h_t = act(a_t),  h_0 = 0
    backward:  dh_t = dy_t + D_{t+1} W_hh,  D_t = dh_t ⊙ act'(a_t);  dW_hh = Σ D_tᵀ h_{t-1}, ...
    R-forward: R{a_t} = V_ih x_t + W_ih R{x_t} + Vb + V_hh h_{t-1} + W_hh R{h_{t-1}},  R{h_t} = act' R{a_t}
    R-backward: the backward loop on R{dy} with sources D_{t+1} V_hh (into dh_t) and dh_t ⊙ R{act'}
    (into D_t; R{act'} = -2 h_t R{h_t} for tanh, 0 for relu).
    x: (N, T, F); y: (N, H), or (N, T, H) with return_sequences.

    Parameters
    ----------
    units : int
        H, the size of the hidden state (a positive integer).
    activation : {"tanh", "relu"}, default "tanh"
        The nonlinearity ``act``.
    return_sequences : bool, default False
        Output every step's h_t, (N, T, H), instead of the last one, (N, H).
    init : {"glorot", "uniform"} or None, default None
        "glorot" (Keras): W_ih Glorot-uniform, W_hh orthogonal, biases 0; "uniform" (PyTorch):
        everything U(±1/√H). None means "glorot".
    name : str, optional
        The node's name in the graph.
    trainable : bool, default True
        False freezes the parameters (their gradient is zero).

    Raises
    ------
    ValueError
        ``units`` not a positive integer, an unknown ``activation`` or ``init``, or (in ``build``)
        an input that is not (N, T, F).

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.SimpleRNN(4), tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()],
    ...                       input_shape=(3, 5), random_state=0)     # T = 3 steps of F = 5
    >>> X = np.random.default_rng(0).standard_normal((2, 3, 5))
    >>> model.forward(X).shape
    (2, 2)
    >>> model.theta.shape     # W_ih 4x5, W_hh 4x4, b_ih 4, b_hh 4, Dense 4x2 + 2
    (54,)
    """

    def __init__(self, units: int, activation: str = "tanh", *, return_sequences: bool = False,
                 init: str | None = None, name: str | None = None, trainable: bool = True):
        if activation not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN: activation must be 'tanh' or 'relu', got {activation!r}")
        self.activation = activation
        super().__init__(units, return_sequences=return_sequences, init=init, name=name,
                         trainable=trainable)

    def _forward_spec(self, N, T):
        return {"tmp": (N, self.units), "sl": (T, N, self.units), "WT": (self.units, self.units)}

    def _steps(self, ws, T):
        a, h, tmp, WT = ws["a"], ws["h"], ws["tmp"], ws["WT"]
        a += self.b_hh  # for every step at once
        np.copyto(WT, self.W_hh.T)  # contiguous: BLAS runs h W_hhᵀ faster from it than from the view
        for t in range(T):
            if t:
                a[t] += np.matmul(h[t], WT, out=tmp)
            if self.activation == "tanh":
                np.tanh(a[t], out=h[t + 1])
            else:
                np.maximum(a[t], 0.0, out=h[t + 1])

    def _derive(self, ws):
        h = ws["h"][1:]
        if self.activation == "tanh":
            np.multiply(h, h, out=ws["sl"])
            np.subtract(1.0, ws["sl"], out=ws["sl"])
        else:
            np.greater(h, 0.0, out=ws["sl"], casting="unsafe")

    def _backward_spec(self, N, T):
        return {"D": (T, N, self.units)}

    def _back(self, dy, fw, ws, T, src):
        D, dh, sl = ws["D"], ws["dh"], fw["sl"]
        for t in range(T - 1, -1, -1):
            np.multiply(self._dh_at(dy, D, dh, t, T, src), sl[t], out=D[t])
            if "D" in src:
                D[t] += src["D"][t]

    def _rforward_spec(self, N, T):
        return {"tmp": (N, self.units)}

    def _rsteps(self, fw, ws, V, T):
        ra, rh = ws["ra"], ws["rh"]
        self._add_rhidden(ra, fw, V, T)
        for t in range(T):
            if t:
                ra[t] += np.matmul(rh[t], self.W_hh.T, out=ws["tmp"])
            np.multiply(ra[t], fw["sl"][t], out=rh[t + 1])

    def _sources(self, V, fw, rf, bw, T):
        src = {"h": self._next_dh(bw["D"], V["W_hh"], T)}
        if self.activation == "tanh":
            src["D"] = -2.0 * bw["dh"] * fw["h"][1:] * rf["rh"][1:]
        return src

    def _cell(self, a, state):
        """``step``'s recurrence: a = W_ih x_t + b_ih in, (h_t,) out."""
        a += state[0] @ self.W_hh.T
        a += self.b_hh
        return (np.tanh(a, out=a) if self.activation == "tanh" else np.maximum(a, 0.0, out=a),)

    def get_config(self) -> dict:
        return {"units": self.units, "activation": self.activation, **super().get_config()}
