"""Curvature without autodiff: Gauss-Newton and Hessian products and their operators (``products``), and
the finite-difference checks of hand-written gradients and R-operators (``gradcheck``); per-example
gradients (``per_example``), the Fisher products (``fisher``), Kronecker factors (``kronecker``) and the
toolbox of traces, diagonals and spectral densities (``spectrum``).
May import: validation, parallel, nodes and the graph core. Never optim, training, io or sklearn.
"""
from .per_example import gradient_variance, per_example_grad_norms, per_example_grads
from .products import KINDS, CurvatureOperator, curvature, gnvp, hvp
from .spectrum import Estimate, Spectrum, density, diagonal, plot_spectrum, trace

__all__ = ["KINDS", "CurvatureOperator", "Estimate", "Spectrum", "curvature", "density", "diagonal", "gnvp",
           "gradient_variance", "hvp", "per_example_grad_norms", "per_example_grads", "plot_spectrum", "trace"]
