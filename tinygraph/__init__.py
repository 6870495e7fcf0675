"""tinygraph: neural networks as explicit graphs of hand-written layers over one flat theta.

``import tinygraph`` loads the core (nodes, graphs, training, saving, drawing) only: the estimators
(scikit-learn), ``tg.dask``, ``tg.datasets``, checkpoints, curvature, Hessian-free and the gradient
checks load on first use (PEP 562 ``__getattr__``),
so the import costs little more than numpy and scipy.optimize.
"""
import importlib

from . import optim, schedules
from .graph import Graph
from .io import load, register_node, save
from .monitor import OptimizeResult
from .nodes import (
    ELU,
    GELU,
    GRU,
    LSTM,
    Add,
    AvgPool2D,
    BatchNorm,
    Concat,
    Conv2D,
    CrossEntropy,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    Hinge,
    Huber,
    Identity,
    Input,
    LayerNorm,
    LeakyReLU,
    LogSoftmax,
    Loss,
    MaxPool2D,
    MeanSquaredError,
    MultiHeadAttention,
    Node,
    PositionalEmbedding,
    ReLU,
    Reshape,
    Sigmoid,
    SimpleRNN,
    Slice,
    Softmax,
    Softplus,
    Tanh,
    initializers,
)
from .objective import minimize
from .optim import NonFiniteError
from .render import DotNotFoundError, render, to_graphviz  # eager: the submodule's name is also a function's
from .sequential import Sequential
from .threads import auto_threads, blas_threads
from .training import fit

# name -> (module, attribute or None for the module itself), imported on first use
_LAZY = {
    "Checkpoint": (".checkpoint", "Checkpoint"),
    "CurvatureOperator": (".curvature", "CurvatureOperator"),
    "HessianFree": (".hessian_free", "HessianFree"),
    "LevenbergMarquardt": (".hessian_free", "LevenbergMarquardt"),
    "check_gradients": (".gradcheck", "check_gradients"),
    "check_node_gradients": (".gradcheck", "check_node_gradients"),
    "check_node_r_operators": (".gradcheck", "check_node_r_operators"),
    "load_checkpoint": (".checkpoint", "load_checkpoint"),
    "NeuralNetClassifier": (".estimators", "NeuralNetClassifier"),
    "NeuralNetRegressor": (".estimators", "NeuralNetRegressor"),
    "dask": (".dask", None),
    "datasets": (".datasets", None),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'tinygraph' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(module, __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
                    "ELU",
                    "GELU",
                    "GRU",
                    "LSTM",
                    "Add",
                    "AvgPool2D",
                    "BatchNorm",
                    "Checkpoint",
                    "Concat",
                    "Conv2D",
                    "CrossEntropy",
                    "CurvatureOperator",
                    "Dense",
                    "DotNotFoundError",
                    "Dropout",
                    "Embedding",
                    "Flatten",
                    "GlobalAvgPool2D",
                    "Graph",
                    "HessianFree",
                    "Hinge",
                    "Huber",
                    "Identity",
                    "Input",
                    "LayerNorm",
                    "LeakyReLU",
                    "LevenbergMarquardt",
                    "LogSoftmax",
                    "Loss",
                    "MaxPool2D",
                    "MeanSquaredError",
                    "MultiHeadAttention",
                    "NeuralNetClassifier",
                    "NeuralNetRegressor",
                    "Node",
                    "PositionalEmbedding",
                    "NonFiniteError",
                    "OptimizeResult",
                    "ReLU",
                    "Reshape",
                    "Sequential",
                    "Sigmoid",
                    "SimpleRNN",
                    "Slice",
                    "Softmax",
                    "Softplus",
                    "Tanh",
                    "auto_threads",
                    "blas_threads",
                    "check_gradients",
                    "check_node_gradients",
                    "check_node_r_operators",
                    "dask",
                    "datasets",
                    "fit",
                    "initializers",
                    "load",
                    "load_checkpoint",
                    "minimize",
                    "optim",
                    "register_node",
                    "render",
                    "save",
                    "schedules",
                    "to_graphviz",
]
