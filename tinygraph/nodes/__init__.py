"""The nodes of a graph: layers and losses, one module per family (as ``torch.nn.modules``), each with
hand-written forward, backward and R-operators; the contract is written once, in ``node``.
May import: validation and parallel only (a node never knows the graph, the optimizers or files).
"""
from . import initializers
from .attention import MultiHeadAttention
from .activations import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding, PositionalEmbedding
from .gated import GRU, LSTM
from .losses import CrossEntropy, Hinge, Huber, Loss, MeanSquaredError
from .merge import Add, Concat
from .node import Input, Node
from .normalization import BatchNorm, LayerNorm
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .rectifiers import ELU, GELU, LeakyReLU, Softplus
from .recurrent import SimpleRNN
from .shape import Flatten, Reshape
from .split import Slice

__all__ = [
    "ELU",
    "GELU",
    "GRU",
    "LSTM",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "Concat",
    "Conv2D",
    "CrossEntropy",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAvgPool2D",
    "Hinge",
    "Huber",
    "Identity",
    "Input",
    "LayerNorm",
    "LeakyReLU",
    "LogSoftmax",
    "Loss",
    "MaxPool2D",
    "MeanSquaredError",
    "MultiHeadAttention",
    "Node",
    "PositionalEmbedding",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "SimpleRNN",
    "Slice",
    "Softmax",
    "Softplus",
    "Tanh",
    "initializers",
]
