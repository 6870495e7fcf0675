"""The nodes of a graph, one module per family (as ``torch.nn.modules``); the contract is in ``node``."""
from . import initializers
from .activations import Identity, ReLU, Sigmoid, Softmax, Tanh
from .conv import Conv2D
from .dense import Dense
from .losses import CrossEntropy, Loss, MeanSquaredError
from .merge import Add, Concat
from .node import Input, Node
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .shape import Flatten, Reshape

__all__ = [
    "Add",
    "AvgPool2D",
    "Concat",
    "Conv2D",
    "CrossEntropy",
    "Dense",
    "Flatten",
    "GlobalAvgPool2D",
    "Identity",
    "Input",
    "Loss",
    "MaxPool2D",
    "MeanSquaredError",
    "Node",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "initializers",
]
