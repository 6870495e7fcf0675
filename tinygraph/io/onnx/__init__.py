"""ONNX out and in: ``to_onnx`` writes a model's prediction graph, ``from_onnx`` builds a Graph."""
from .export import OnnxContext, to_onnx
from .import_ import from_onnx
from .read import OnnxImportError

__all__ = ["OnnxContext", "OnnxImportError", "from_onnx", "to_onnx"]
