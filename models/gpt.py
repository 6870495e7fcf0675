"""A GPT (Radford et al. 2018/2019) built from tinygraph nodes, laid out as nanoGPT's ``model.py``.

tokens (N, T) → wte (Embedding V×E) + wpe (PositionalEmbedding T×E) → n_layer blocks
    x ← x + attn(ln_1(x))        causal MultiHeadAttention, n_head heads
    x ← x + mlp(ln_2(x))         Dense 4E → GELU (exact) → Dense E
→ ln_f → lm_head (Dense E → V) → Softmax → CrossEntropy on the next token at every position.
Nodes are named as nanoGPT's modules (``h0.attn``, ``h0.mlp.c_fc``, ...); ``tg.render`` draws each
block ``hN`` as one box of its own.

Initialisation (nanoGPT's ``_init_weights``): every weight N(0, 0.02), the two projections back into
the residual stream (``attn`` W_o and ``mlp.c_proj``) N(0, 0.02/sqrt(2·n_layer)), biases 0, LayerNorm
γ = 1, β = 0. Unlike nanoGPT, ``lm_head`` is not tied to ``wte`` (tied weights would make one
parameter the view of two nodes; the untied head adds V·E parameters) and every Dense keeps its bias.

``DEFAULTS`` are nanoGPT's shakespeare-char CPU recipe (4 layers, 4 heads, E = 128, context 64) and
``RECIPE`` its training settings (``examples/char_gpt.py`` runs them).
"""
from __future__ import annotations

import math

import numpy as np

import tinygraph as tg

DEFAULTS = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0}
RECIPE = {"batch_size": 12, "max_iters": 2000, "lr": 1e-3, "min_lr": 1e-4, "warmup_iters": 100,
          "beta2": 0.99, "weight_decay": 0.1, "clipnorm": 1.0}


def normal_init(std: float):
    """A scheme f(rng, W, b): W ~ N(0, std²), b = 0 (nanoGPT's init of every Linear and Embedding)."""
    def scheme(rng, W, b):
        W[...] = rng.normal(0.0, std, W.shape)
        if b is not None:
            b[...] = 0.0
    return scheme


def _attention_init(std: float, proj_std: float):
    # MultiHeadAttention calls its scheme for (W_qkv, b_qkv) then (W_o, b_o): W_o is the square one
    def scheme(rng, W, b):
        normal_init(proj_std if W.shape[0] == W.shape[1] else std)(rng, W, b)
    return scheme


def block(x: tg.Node, i: int, n_head: int, n_embd: int, n_layer: int, dropout: float = 0.0) -> tg.Node:
    """One pre-LayerNorm transformer block on x (N, T, E): x + attn(ln_1(x)), then + mlp(ln_2(x))."""
    proj_std = 0.02 / math.sqrt(2 * n_layer)
    h = tg.LayerNorm(name=f"h{i}.ln_1")(x)
    h = tg.MultiHeadAttention(n_head, causal=True, dropout=dropout, init=_attention_init(0.02, proj_std),
                              name=f"h{i}.attn")(h)
    if dropout:
        h = tg.Dropout(dropout, name=f"h{i}.attn.dropout")(h)
    x = tg.Add(name=f"h{i}.add_1")(x, h)
    h = tg.LayerNorm(name=f"h{i}.ln_2")(x)
    h = tg.Dense(4 * n_embd, init=normal_init(0.02), name=f"h{i}.mlp.c_fc")(h)
    h = tg.GELU(name=f"h{i}.mlp.gelu")(h)
    h = tg.Dense(n_embd, init=normal_init(proj_std), name=f"h{i}.mlp.c_proj")(h)
    if dropout:
        h = tg.Dropout(dropout, name=f"h{i}.mlp.dropout")(h)
    return tg.Add(name=f"h{i}.add_2")(x, h)


def gpt(vocab_size: int, *, n_layer: int = DEFAULTS["n_layer"], n_head: int = DEFAULTS["n_head"],
        n_embd: int = DEFAULTS["n_embd"], block_size: int = DEFAULTS["block_size"],
        dropout: float = DEFAULTS["dropout"], random_state=None, dtype=np.float32) -> tg.Graph:
    """A decoder-only transformer for next-token prediction on token windows (N, block_size).

    Parameters
    ----------
    vocab_size : int
        V: token ids lie in [0, V).
    n_layer, n_head, n_embd, block_size : int
        Blocks, heads per attention, width E (divisible by n_head) and the context length T.
    dropout : float, default 0.0
        Dropout after the embeddings, on the attention weights and after each residual branch.
    random_state : int or numpy.random.Generator, optional
        Seed of the initial weights (and of dropout).
    dtype : numpy float type, default numpy.float32
        The model's dtype (float64 for gradient checks).

    Returns
    -------
    Graph
        X: token ids (N, block_size); y: the next tokens (N, block_size); the loss is the mean
        cross-entropy over all N·T positions.

    Examples
    --------
    >>> import numpy as np
    >>> from models.gpt import gpt
    >>> model = gpt(11, n_layer=1, n_head=2, n_embd=8, block_size=6, random_state=0)
    >>> X = np.random.default_rng(0).integers(0, 11, (3, 6))
    >>> model.predict_proba(X).shape
    (3, 6, 11)
    """
    tokens = tg.Input(block_size, name="tokens")
    x = tg.Embedding(vocab_size, n_embd, init=normal_init(0.02), name="wte")(tokens)
    x = tg.PositionalEmbedding(block_size, init=normal_init(0.02), name="wpe")(x)
    if dropout:
        x = tg.Dropout(dropout, name="drop")(x)
    for i in range(n_layer):
        x = block(x, i, n_head, n_embd, n_layer, dropout)
    x = tg.LayerNorm(name="ln_f")(x)
    logits = tg.Dense(vocab_size, init=normal_init(0.02), name="lm_head")(x)
    out = tg.CrossEntropy(name="loss")(tg.Softmax(name="softmax")(logits))
    return tg.Graph(tokens, out, random_state=random_state, dtype=dtype)
