"""The nodes of a graph, one module per family (as ``torch.nn.modules``); the contract is in ``node``."""
from . import initializers
from .activations import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .dense import Dense
from .losses import CrossEntropy, Hinge, Huber, Loss, MeanSquaredError
from .merge import Add, Concat
from .node import Input, Node
from .rectifiers import ELU, GELU, LeakyReLU, Softplus

__all__ = [
    "ELU",
    "GELU",
    "Add",
    "Concat",
    "CrossEntropy",
    "Dense",
    "Hinge",
    "Huber",
    "Identity",
    "Input",
    "LeakyReLU",
    "LogSoftmax",
    "Loss",
    "MeanSquaredError",
    "Node",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "initializers",
]
