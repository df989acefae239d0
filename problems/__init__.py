"""Problems by name. Adding a problem means adding a module and a line in ``PROBLEMS``.

``PROBLEMS`` maps a name to ``"module:class"``; a problem's module is imported when its name is
first looked up, so ``import sirenpde.problems`` loads none of them.
"""
from __future__ import annotations

from sirenpde._lazy import lazy_exports
from sirenpde.registry import Registry

_TARGETS = {
    "image-fit": "sirenpde.problems.image_fit:ImageFit",
    "audio-fit": "sirenpde.problems.audio_fit:AudioFit",
    "poisson-gradient": "sirenpde.problems.poisson:PoissonGradient",
    "poisson-laplacian": "sirenpde.problems.poisson:PoissonLaplacian",
    "gradient-composite": "sirenpde.problems.poisson:GradientComposite",
    "helmholtz": "sirenpde.problems.helmholtz:Helmholtz",
    "helmholtz-inverse": "sirenpde.problems.helmholtz_inverse:HelmholtzInverse",
    "helmholtz-square": "sirenpde.problems.helmholtz_square:HelmholtzSquare",
    "wave": "sirenpde.problems.wave:Wave",
    "sdf": "sirenpde.problems.sdf:SDF",
}
PROBLEMS = Registry("problem", _TARGETS)


def get_problem(name: str, **kwargs):
    """Build a registered problem by name with its keyword arguments (``ValueError`` on a bad name
    or an option the problem does not take, naming the options it does take)."""
    import inspect

    cls = PROBLEMS[name]
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        known = [k for k, p in params.items() if k != "self" and p.kind is not p.VAR_POSITIONAL]
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise ValueError(f"{name}: unknown option {unknown[0]!r}; its options are {', '.join(known)}")
    return cls(**kwargs)


_EXPORTS = {"Problem": "sirenpde.problem", "Constraint": "sirenpde.problem", "Box": "sirenpde.problem",
            **{target.partition(":")[2]: target.partition(":")[0] for target in _TARGETS.values()}}
__all__ = ["PROBLEMS", "get_problem", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
