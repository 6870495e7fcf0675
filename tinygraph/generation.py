"""Autoregressive sampling from a model of token sequences: ``generate(model, prompt, n, ...)``.

The model reads token ids (N, T) and gives a distribution over the next token: at every position,
(N, T, K) (trained on per-step targets, as a language model), or once per window, (N, K). Its
output is read as probabilities when it is a ``Softmax``, log-probabilities after ``LogSoftmax``,
logits otherwise. Each new token is drawn from softmax(log p / temperature) restricted to the
``top_k`` most likely tokens (nanoGPT's ``generate``), then appended to the context.

Two ways to run the model, chosen by ``stateful`` (None: the first that applies):

- stateful: a recurrent model whose other nodes act on each position alone (embeddings, Dense,
  activations, Dropout, Add, LayerNorm over the last axis). Every recurrent node carries its state
  with ``step``; the prompt is read one token at a time, then one step per new token: O(n) in all,
  and the context is the whole history.
- window: any model (a GPT): for each new token, the last T tokens go through ``forward``, O(n·T).
  Fewer than T tokens are padded on the right with token 0 and the distribution is read at the
  last real position: right for causal models (a position sees only itself and those before it),
  which is what autoregressive sampling needs. A model with one output per window needs T tokens.
"""
from __future__ import annotations

import numpy as np

from .nodes import (
    ELU,
    GELU,
    Add,
    Dense,
    Dropout,
    Embedding,
    Identity,
    LayerNorm,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .nodes.recurrent import _Recurrent
from .prediction import _release
from .validation import check_random_state

__all__ = ["generate"]

_PER_POSITION = (ELU, GELU, Add, Dense, Dropout, Embedding, Identity, LeakyReLU, LogSoftmax, ReLU,
                 Sigmoid, Softmax, Softplus, Tanh)


def _acts_per_position(node) -> bool:
    if isinstance(node, _PER_POSITION):
        return True
    # LayerNorm over the last axis only normalises each position on its own
    return isinstance(node, LayerNorm) and getattr(node, "axis", None) == -1


def _blocker(model):
    """The first node that keeps the model from stepping (None when it can step), or the model."""
    if len(model.inputs) != 1:
        return model
    nodes = [node for _, node, _ in model._predict_plan]
    if not any(isinstance(node, _Recurrent) for node in nodes):
        return model
    return next((node for node in nodes if not isinstance(node, _Recurrent) and not _acts_per_position(node)),
                None)


def _log_probs(model, out: np.ndarray) -> np.ndarray:
    """log p (up to a constant per row) of the model's output rows (B, K), in float64."""
    out = out.astype(np.float64)
    if isinstance(model.output, Softmax):
        with np.errstate(divide="ignore"):  # a probability of 0 is a log of -inf: never drawn
            return np.log(out)
    return out  # log-probabilities and logits both


def _sample(logp: np.ndarray, temperature: float, top_k: int | None, rng) -> np.ndarray:
    """One token per row from softmax(logp / temperature) over the top_k largest entries."""
    z = logp / temperature
    if top_k is not None and top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k, None]
        z = np.where(z < kth, -np.inf, z)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    c = np.cumsum(p, axis=1)
    u = rng.random((z.shape[0], 1)) * c[:, -1:]
    return np.minimum((c <= u).sum(axis=1), z.shape[1] - 1)


def _window(model, ids: np.ndarray, n: int, draw) -> np.ndarray:
    T = model.input.shape[0]
    per_step = len(model.output.out_shape) == 2
    if not per_step and ids.shape[1] < T:
        raise ValueError(f"generate: {model.output.name} gives one output per window of {T} tokens: the "
                         f"prompt needs at least {T} tokens, got {ids.shape[1]}")
    for _ in range(n):
        context = ids[:, -T:]
        L = context.shape[1]
        if L < T:
            context = np.concatenate([context, np.zeros((len(ids), T - L), dtype=ids.dtype)], axis=1)
        out = model.forward(context)
        ids = np.concatenate([ids, draw(out[:, L - 1] if per_step else out)[:, None]], axis=1)
    return ids


def _stateful(model, ids: np.ndarray, n: int, draw) -> np.ndarray:
    def run(m):
        kept = [set(node._buffers) for node in m.nodes]
        try:
            return steps(m)
        finally:
            _release(m, kept)  # the one-step buffers go, as after predict

    def steps(m):
        for node in m.nodes:  # evaluation mode: running statistics, no dropout
            node.training = False
        m._training = False
        states, out = {}, None

        def advance(tokens):
            vals = [None] * len(m.nodes)
            vals[0] = tokens[:, None]
            for i, node, ins in m._predict_plan:
                x = vals[ins[0]] if len(ins) == 1 else None
                if isinstance(node, _Recurrent):
                    h, states[i] = node.step(x[:, -1], states.get(i))
                    vals[i] = h[:, None] if node.return_sequences else h
                else:
                    vals[i] = node.forward(*[vals[j] for j in ins])
            y = vals[m._out_index]
            return y[:, -1] if y.ndim == 3 else y

        for t in range(ids.shape[1]):
            out = advance(ids[:, t])
        new = []
        for _ in range(n):
            new.append(draw(out))
            out = advance(new[-1])
        return np.concatenate([ids, np.stack(new, axis=1)], axis=1) if new else ids
    return model._run(run)


def generate(model, prompt, n: int, *, temperature: float = 1.0, top_k: int | None = None,
             random_state=None, stateful: bool | None = None) -> np.ndarray:
    """Sample ``n`` tokens after ``prompt``, each from the model's distribution given all before it.

    Parameters
    ----------
    model : Graph
        One input of token ids (N, T); its output (the node before the loss) gives the next-token
        distribution per position (N, T, K) or per window (N, K): see the module docstring.
    prompt : array-like of int, (P,) or (B, P)
        The context to continue (P ≥ 1), or B of them at once.
    n : int
        The number of tokens to draw.
    temperature : float, default 1.0
        Divides the log-probabilities (below 1: more likely tokens; above: more varied).
    top_k : int, optional
        Draw only among the ``top_k`` most likely tokens (``top_k=1``: greedy decoding).
    random_state : int, Generator or None
        Seed of the draws.
    stateful : bool, optional
        Carry recurrent states (O(n)) or re-run the last window (O(n·T)); None: stateful when the
        model allows it.

    Returns
    -------
    ndarray of intp, (P + n,) or (B, P + n)
        The prompt followed by the drawn tokens.

    Raises
    ------
    ValueError
        A bad ``n``, ``temperature``, ``top_k`` or prompt; ``stateful=True`` for a model that cannot
        step (the message names the node); a per-window model with a prompt shorter than T.

    Examples
    --------
    >>> import numpy as np
    >>> import tinygraph as tg
    >>> model = tg.Sequential([tg.Embedding(5, 3), tg.LSTM(4, return_sequences=True), tg.Dense(5),
    ...                        tg.Softmax(), tg.CrossEntropy()], input_shape=8, random_state=0)
    >>> tg.generate(model, [1, 2], 6, random_state=0).shape
    (8,)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"generate: n must be a non-negative integer, got {n!r}")
    if not (isinstance(temperature, (int, float, np.number)) and 0 < temperature < np.inf):
        raise ValueError(f"generate: temperature must be a positive number, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise ValueError(f"generate: top_k must be a positive integer or None, got {top_k!r}")
    ids = np.asarray(prompt)
    single = ids.ndim == 1
    ids = ids[None] if single else ids
    if ids.ndim != 2 or ids.shape[1] < 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"generate: prompt must be integer token ids of shape (P,) or (B, P) with P ≥ 1, "
                         f"got shape {np.shape(prompt)} and dtype {ids.dtype}")
    ids = ids.astype(np.intp)
    rng = check_random_state(random_state)

    def draw(out):
        return _sample(_log_probs(model, out), float(temperature), top_k, rng)

    blocker = _blocker(model)
    if stateful and blocker is not None:
        why = ("has no recurrent layer, or several inputs" if blocker is model else
               f"has {blocker.name} ({type(blocker).__name__}), which mixes positions")
        raise ValueError(f"generate: stateful=True needs a recurrent model whose other nodes act on each "
                         f"position alone; this one {why}")
    use_steps = blocker is None if stateful is None else bool(stateful)
    out = (_stateful if use_steps else _window)(model, ids, int(n), draw)
    return out[0] if single else out
