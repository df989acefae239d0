"""sirenpde: physics problems and 3D shapes with SIREN networks.

The front door::

    import sirenpde
    problem = sirenpde.get_problem("poisson-gradient", image="camera", size=128)
    model = sirenpde.Siren(2, 1)
    result = sirenpde.fit(problem, model, steps=500)
    print(result.metrics)

The names below load on first use (PEP 562), so ``import sirenpde`` and ``sirenpde --help``
start without torch; reading ``sirenpde.Siren`` imports the numerics, ``sirenpde.get_problem``
the problem registry (each problem module on its own first use), ``sirenpde.reconstruct`` the
shape pipeline. See docs/ARCHITECTURE.md for the layers.
"""
from sirenpde._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    **dict.fromkeys(["Siren", "ReLUMLP", "TanhMLP", "PositionalEncodingMLP", "FourierFeatureMLP", "make_model"],
                    "sirenpde.nn"),
    "MODELS": "sirenpde.registry",
    "field": "sirenpde.fields", "Field": "sirenpde.fields",
    **dict.fromkeys(["gradient", "divergence", "laplacian", "jacobian", "hessian"], "sirenpde.operators"),
    "Problem": "sirenpde.problem", "Constraint": "sirenpde.problem", "Box": "sirenpde.problem",
    "PROBLEMS": "sirenpde.problems", "get_problem": "sirenpde.problems",
    "fit": "sirenpde.training", "FitResult": "sirenpde.training",
    "load": "sirenpde.io.solution", "Solution": "sirenpde.io.solution",
    "fit_sdf": "sirenpde.shapes.fit", "reconstruct": "sirenpde.shapes.fit",
    "load_shape_model": "sirenpde.shapes.model",
    "PDE": "sirenpde.pde",
    **dict.fromkeys(["Dirichlet", "Neumann", "Robin", "Periodic", "Initial", "InitialRate"], "sirenpde.conditions"),
}

__all__ = [
    "Siren", "ReLUMLP", "TanhMLP", "PositionalEncodingMLP", "FourierFeatureMLP", "MODELS", "make_model",
    "field", "Field", "gradient", "divergence", "laplacian", "jacobian", "hessian",
    "Problem", "Constraint", "Box", "PROBLEMS", "get_problem", "fit", "FitResult",
    "fit_sdf", "reconstruct", "load_shape_model", "load", "Solution",
    "PDE", "Dirichlet", "Neumann", "Robin", "Periodic", "Initial", "InitialRate",
]
# Subpackages readable as attributes, e.g. help(sirenpde.problems.Helmholtz) after `import sirenpde`.
_SUBMODULES = ("problems", "meshing", "shapes", "io", "cli", "registry", "training", "geometry")
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBMODULES)
