"""The nodes of a graph, one module per family (as ``torch.nn.modules``); the contract is in ``node``."""
from . import initializers
from .activations import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .dense import Dense
from .dropout import Dropout
from .losses import CrossEntropy, Hinge, Huber, Loss, MeanSquaredError
from .merge import Add, Concat
from .node import Input, Node
from .normalization import BatchNorm, LayerNorm
from .rectifiers import ELU, GELU, LeakyReLU, Softplus

__all__ = [
    "ELU",
    "GELU",
    "Add",
    "BatchNorm",
    "Concat",
    "CrossEntropy",
    "Dense",
    "Dropout",
    "Hinge",
    "Huber",
    "Identity",
    "Input",
    "LayerNorm",
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
