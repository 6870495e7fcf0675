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
                    Add,
                    BatchNorm,
                    Concat,
                    CrossEntropy,
                    Dense,
                    Dropout,
                    Identity,
                    Input,
                    LayerNorm,
                    Loss,
                    MeanSquaredError,
                    Node,
                    ReLU,
                    Sigmoid,
                    Softmax,
                    Tanh,
                    initializers,
)
from .objective import minimize
from .optim import NonFiniteError
from .render import DotNotFoundError, render, to_graphviz
from .threads import auto_threads, blas_threads
from .training import fit

__version__ = "0.1.0"

__all__ = [
                    "Add",
                    "BatchNorm",
                    "Checkpoint",
                    "Concat",
                    "CrossEntropy",
                    "CurvatureOperator",
                    "Dense",
                    "DotNotFoundError",
                    "Dropout",
                    "Graph",
                    "HessianFree",
                    "Identity",
                    "Input",
                    "LayerNorm",
                    "LevenbergMarquardt",
                    "Loss",
                    "MeanSquaredError",
                    "NeuralNetClassifier",
                    "NeuralNetRegressor",
                    "Node",
                    "NonFiniteError",
                    "OptimizeResult",
                    "ReLU",
                    "Sequential",
                    "Sigmoid",
                    "Softmax",
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
