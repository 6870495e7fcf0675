"""Gate orders of the recurrent layers: PyTorch's (ours) against ONNX's.

PyTorch LSTM stacks i, f, g, o; ONNX's LSTM i, o, f, c. PyTorch GRU stacks r, z, n; ONNX's GRU
z, r, h (with ``linear_before_reset=1``, PyTorch's n). ``ONNX_FROM_TORCH[op][k]`` is the PyTorch
block that lands in ONNX block k; moving blocks is exact, so weights cross both ways bit for bit.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ONNX_FROM_TORCH", "from_onnx_blocks", "to_onnx_blocks"]

ONNX_FROM_TORCH = {"RNN": (0,), "LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2)}


def to_onnx_blocks(W: np.ndarray, op: str) -> np.ndarray:
    """W (G·H, ...) in PyTorch's gate order -> the same blocks in ONNX's order."""
    blocks = np.split(W, len(ONNX_FROM_TORCH[op]), axis=0)
    return np.concatenate([blocks[k] for k in ONNX_FROM_TORCH[op]], axis=0)


def from_onnx_blocks(W: np.ndarray, op: str) -> np.ndarray:
    """W (G·H, ...) in ONNX's gate order -> PyTorch's (the inverse of ``to_onnx_blocks``)."""
    order = ONNX_FROM_TORCH[op]
    blocks = np.split(W, len(order), axis=0)
    out = [None] * len(order)
    for k, torch_k in enumerate(order):
        out[torch_k] = blocks[k]
    return np.concatenate(out, axis=0)
