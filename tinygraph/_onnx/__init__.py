"""ONNX out and in: ``to_onnx`` writes a model's prediction graph, ``from_onnx`` builds a Graph."""
from .export import OnnxContext, to_onnx

__all__ = ["OnnxContext", "to_onnx"]
