"""The scikit-learn face: ``NeuralNetClassifier`` and ``NeuralNetRegressor`` (``estimators``), the net behind
both (``net``), and what they take from scikit-learn (``base``; scikit-learn is required here only).
May import everything below it: the graph core, nodes, optim, training, io.
"""
from .estimators import NeuralNetClassifier, NeuralNetRegressor

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]
