"""tinygraph: neural networks as explicit graphs of hand-written layers over one flat theta.

``import tinygraph`` loads the core (nodes, graphs, training, saving, drawing) only: the estimators
(scikit-learn), ``tg.dask``, ``tg.datasets``, checkpoints, curvature, Hessian-free and the gradient
checks load on first use (PEP 562 ``__getattr__``),
so the import costs little more than numpy and scipy.optimize.
"""
import importlib

from . import _moved, optim
from .optim import schedules
from .graph import Graph
from .io.saving import load, register_node, save
from .training.monitor import OptimizeResult
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
from .training.objective import minimize
from .optim import NonFiniteError
from .render import DotNotFoundError, render, to_graphviz  # eager: the submodule's name is also a function's
from .sequential import Sequential
from .statistics import StaleStatisticsWarning
from .parallel.threads import auto_threads, blas_threads
from .training.loop import fit
from .generation import generate

_moved.install()  # the module paths from before the subpackages (tinygraph.parallel.threads, ...) keep working

# name -> (module, attribute or None for the module itself), imported on first use
_LAZY = {
    "Checkpoint": (".training.checkpoint", "Checkpoint"),
    "CurvatureOperator": (".curvature.products", "CurvatureOperator"),
    "per_example_grads": (".curvature.per_example", "per_example_grads"),
    "per_example_grad_norms": (".curvature.per_example", "per_example_grad_norms"),
    "plot_spectrum": (".curvature.spectrum", "plot_spectrum"),
    "HessianFree": (".optim.hessian_free", "HessianFree"),
    "LevenbergMarquardt": (".optim.hessian_free", "LevenbergMarquardt"),
    "check_gradients": (".curvature.gradcheck", "check_gradients"),
    "check_node_gradients": (".curvature.gradcheck", "check_node_gradients"),
    "check_node_r_operators": (".curvature.gradcheck", "check_node_r_operators"),
    "load_checkpoint": (".training.checkpoint", "load_checkpoint"),
    "plot_history": (".training.plot", "plot_history"),
    "NeuralNetClassifier": (".sklearn.estimators", "NeuralNetClassifier"),
    "NeuralNetRegressor": (".sklearn.estimators", "NeuralNetRegressor"),
    "curvature": (".curvature", None),
    "dask": (".parallel.dask", None),
    "datasets": (".datasets", None),
    "from_onnx": (".io.onnx.import_", "from_onnx"),
    "to_onnx": (".io.onnx.export", "to_onnx"),
}


def __getattr__(name: str):
    if name in _moved.MOVED:  # tg.threads, tg.fileformat, ...: the attributes of the old layout
        return importlib.import_module(f".{name}", __name__)
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
                    "StaleStatisticsWarning",
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
                    "from_onnx",
                    "generate",
                    "initializers",
                    "load",
                    "load_checkpoint",
                    "minimize",
                    "optim",
                    "per_example_grad_norms",
                    "per_example_grads",
                    "plot_history",
                    "plot_spectrum",
                    "register_node",
                    "render",
                    "save",
                    "schedules",
                    "to_graphviz",
                    "to_onnx",
]
