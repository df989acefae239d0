"""sirenpde: physics problems and 3D shapes with SIREN networks.

The front door::

    import sirenpde
    problem = sirenpde.get_problem("poisson-gradient", image="camera", size=128)
    model = sirenpde.Siren(2, 1)
    result = sirenpde.fit(problem, model, steps=500)
    print(result.metrics)
"""
from sirenpde.fields import Field, field
from sirenpde.nn import (MODELS, FourierFeatureMLP, PositionalEncodingMLP, ReLUMLP, Siren, TanhMLP,
                         make_model)
from sirenpde.operators import divergence, gradient, hessian, jacobian, laplacian
from sirenpde.problem import Box, Constraint, Problem
from sirenpde.problems import PROBLEMS, get_problem
from sirenpde.training import FitResult, fit

__version__ = "0.1.0"

__all__ = [
    "Siren", "ReLUMLP", "TanhMLP", "PositionalEncodingMLP", "FourierFeatureMLP", "MODELS", "make_model",
    "field", "Field", "gradient", "divergence", "laplacian", "jacobian", "hessian",
    "Problem", "Constraint", "Box", "PROBLEMS", "get_problem", "fit", "FitResult",
]
