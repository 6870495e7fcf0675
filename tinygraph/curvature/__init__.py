"""Curvature without autodiff: Gauss-Newton and Hessian products and their operators (``products``), and
the finite-difference checks of hand-written gradients and R-operators (``gradcheck``).
May import: validation, parallel, nodes and the graph core. Never optim, training, io or sklearn.
"""
from .products import KINDS, CurvatureOperator, curvature, gnvp, hvp

__all__ = ["KINDS", "CurvatureOperator", "curvature", "gnvp", "hvp"]
