"""The nodes of a graph, one module per family (as ``torch.nn.modules``); the contract is in ``node``."""
from . import initializers
from .activations import Identity, ReLU, Sigmoid, Softmax, Tanh
from .dense import Dense
from .dropout import Dropout
from .losses import CrossEntropy, Loss, MeanSquaredError
from .merge import Add, Concat
from .node import Input, Node
from .normalization import BatchNorm, LayerNorm
from .split import Slice

__all__ = [
    "Add",
    "BatchNorm",
    "Concat",
    "CrossEntropy",
    "Dense",
    "Dropout",
    "Identity",
    "Input",
    "LayerNorm",
    "Loss",
    "MeanSquaredError",
    "Node",
    "ReLU",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Tanh",
    "initializers",
]
