"""Files: ``save``/``load`` (``saving``), the ``.npz`` file ``format`` and its safe ``reader`` (everything
checked before anything large is read), and the ``estimators``' own records; ``onnx``: ``to_onnx``
and ``from_onnx`` (loaded on first use, with the optional onnx package).
May import: validation, parallel, nodes, the graph core (estimator classes are found by name, on load).
"""
from .format import FORMAT, VERSION, FormatError, Saved, register_node
from .saving import load, read, save

__all__ = ["FORMAT", "VERSION", "FormatError", "Saved", "load", "read", "register_node", "save"]
