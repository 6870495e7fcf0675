"""ONNX out and in (the optional ``onnx`` extra: onnx, and onnxruntime to run the files).

``to_onnx(model, path)`` (``export``) writes the evaluation-mode prediction graph: one converter
per built-in node (``export_ops``), a node's own ``to_onnx(ctx, inputs)`` hook for the rest
(``OnnxContext``). ``from_onnx(path)`` (``import_``) builds a ``Graph`` back: the file is read with
every tensor's size checked first (``read``), each op goes to a handler (``import_ops`` for
layers, ``import_shapes`` for constants, shape arithmetic and views, over the values of
``views``). Recurrent gates cross between PyTorch's order and ONNX's in ``gates``.
"""
from .export import OnnxContext, to_onnx
from .import_ import from_onnx
from .read import OnnxImportError

__all__ = ["OnnxContext", "OnnxImportError", "from_onnx", "to_onnx"]
