"""The nodes of a graph, one module per family (as ``torch.nn.modules``); the contract is in ``node``."""
from . import initializers
from .activations import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .gated import GRU, LSTM
from .losses import CrossEntropy, Hinge, Huber, Loss, MeanSquaredError
from .merge import Add, Concat
from .node import Input, Node
from .normalization import BatchNorm, LayerNorm
from .rectifiers import ELU, GELU, LeakyReLU, Softplus
from .recurrent import SimpleRNN
from .split import Slice

__all__ = [
    "ELU",
    "GELU",
    "GRU",
    "LSTM",
    "Add",
    "BatchNorm",
    "Concat",
    "CrossEntropy",
    "Dense",
    "Dropout",
    "Embedding",
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
    "SimpleRNN",
    "Slice",
    "Softmax",
    "Softplus",
    "Tanh",
    "initializers",
]
