"""tinygraph: neural networks as explicit graphs of hand-written layers over one flat theta."""
from . import dask, datasets, optim, schedules
from .checkpoint import Checkpoint, load_checkpoint
from .curvature import CurvatureOperator
from .estimators import NeuralNetClassifier, NeuralNetRegressor
from .gradcheck import check_gradients, check_node_gradients, check_node_r_operators
from .graph import Graph, Sequential
from .hessian_free import HessianFree, LevenbergMarquardt
from .io import load, register_node, save
from .monitor import OptimizeResult
from .nodes import (
                    ELU,
                    GELU,
                    Add,
                    AvgPool2D,
                    BatchNorm,
                    Concat,
                    Conv2D,
                    CrossEntropy,
                    Dense,
                    Dropout,
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
                    Node,
                    ReLU,
                    Reshape,
                    Sigmoid,
                    Softmax,
                    Softplus,
                    Tanh,
                    initializers,
)
from .objective import minimize
from .optim import NonFiniteError
from .render import DotNotFoundError, render, to_graphviz
from .threads import blas_threads
from .training import fit

__version__ = "0.1.0"

__all__ = [
                    "ELU",
                    "GELU",
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
                    "NeuralNetClassifier",
                    "NeuralNetRegressor",
                    "Node",
                    "NonFiniteError",
                    "OptimizeResult",
                    "ReLU",
                    "Reshape",
                    "Sequential",
                    "Sigmoid",
                    "Softmax",
                    "Softplus",
                    "Tanh",
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
