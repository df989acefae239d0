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
    # a family's member is an ordinary problem, so a predicted member's model.pt loads by name
    "poisson-bump": "sirenpde.hyper.poisson_family:PoissonBump",
}
PROBLEMS = Registry("problem", _TARGETS)


def get_problem(name: str, **kwargs):
    """Build a registered problem by name with its keyword arguments (``ValueError`` on a bad name,
    an option the problem does not take or a missing one it needs, naming the options it takes)."""
    import inspect

    cls = PROBLEMS[name]
    params = inspect.signature(cls.__init__).parameters
    known = [k for k, p in params.items() if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise ValueError(f"{name}: unknown option {unknown[0]!r}; its options are {', '.join(known)}")
    missing = [k for k in known if params[k].default is params[k].empty and k not in kwargs]
    if missing:  # a family's member (poisson-bump) has no default centre, sdf no default cloud
        raise ValueError(f"{name}: option {missing[0]!r} has no default, give it (command line: "
                         f"-O {missing[0]}=...); its options are {', '.join(known)}")
    return cls(**kwargs)


_EXPORTS = {"Problem": "sirenpde.problem", "Constraint": "sirenpde.problem", "Box": "sirenpde.problem",
            **{target.partition(":")[2]: target.partition(":")[0] for target in _TARGETS.values()}}
__all__ = ["PROBLEMS", "get_problem", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
