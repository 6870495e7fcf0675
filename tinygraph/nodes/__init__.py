"""The nodes of a graph, one module per family (as ``torch.nn.modules``); the contract is in ``node``."""
from . import initializers
from .activations import Identity, ReLU, Sigmoid, Softmax, Tanh
from .dense import Dense
from .losses import CrossEntropy, Loss, MeanSquaredError
from .merge import Add, Concat
from .node import Input, Node

__all__ = [
    "Add",
    "Concat",
    "CrossEntropy",
    "Dense",
    "Identity",
    "Input",
    "Loss",
    "MeanSquaredError",
    "Node",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "initializers",
]
