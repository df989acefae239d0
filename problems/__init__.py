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
    "video-fit": "sirenpde.problems.video_fit:VideoFit",
    "poisson-gradient": "sirenpde.problems.poisson:PoissonGradient",
    "poisson-laplacian": "sirenpde.problems.poisson:PoissonLaplacian",
    "gradient-composite": "sirenpde.problems.poisson:GradientComposite",
    "helmholtz": "sirenpde.problems.helmholtz:Helmholtz",
    "helmholtz-inverse": "sirenpde.problems.helmholtz_inverse:HelmholtzInverse",
    "helmholtz-square": "sirenpde.problems.helmholtz_square:HelmholtzSquare",
    "wave": "sirenpde.problems.wave:Wave",
    "sdf": "sirenpde.problems.sdf:SDF",
    "poisson-bump": "sirenpde.problems.poisson_bump:PoissonBump",
    "plate-holes": "sirenpde.problems.plate_holes:PlateHoles",
}
PROBLEMS = Registry("problem", _TARGETS)

# Families: a registered problem with ranges for some of its options (sirenpde.hyper.Family). Each
# entry names the problem, the options its members share, the parameters (the problem's
# parameter_ranges unless "ranges" is given), "shift" (parameters that are a position: the model
# takes coordinates relative to it) and the training defaults, in the vocabulary of problems:
# steps, lr, members per step, points per member, conditioning and model kwargs by model name.
# Plain data, so the command line reads names and defaults without importing torch.
FAMILIES = {
    "poisson-family": {
        "problem": "poisson-bump",
        "defaults": {"steps": 2000, "lr": 1e-3, "members": 16, "points": 256, "conditioning": "film",
                     "model": {"siren": {"hidden_features": 64, "hidden_layers": 3, "first_omega_0": 3.0,
                                         "hidden_omega_0": 30.0}}},
    },
    "helmholtz-family": {
        "problem": "helmholtz",
        # every member subtracts its source's singular part; the metric grid is the family's
        "options": {"subtract_source": True, "metric_n": 64},
        "shift": ["sx", "sy"],
        "defaults": {"steps": 16000, "lr": 3e-4, "members": 8, "points": 512, "conditioning": "film",
                     "model": {"siren": {"hidden_features": 128, "hidden_layers": 3, "first_omega_0": 30.0,
                                         "hidden_omega_0": 30.0}}},
    },
    # a family over the domain: PINNacle's Poisson 2d-C plate with the holes' radius in [0.05, 0.15]
    "plate-family": {
        "problem": "plate-holes",
        "defaults": {"steps": 16000, "lr": 3e-4, "members": 8, "points": 512, "conditioning": "film",
                     "model": {}},
    },
}


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
    if missing:  # sdf has no default cloud
        raise ValueError(f"{name}: option {missing[0]!r} has no default, give it (command line: "
                         f"-O {missing[0]}=...); its options are {', '.join(known)}")
    return cls(**kwargs)


_EXPORTS = {"Problem": "sirenpde.problem", "Constraint": "sirenpde.problem", "Box": "sirenpde.problem",
            **{target.partition(":")[2]: target.partition(":")[0] for target in _TARGETS.values()}}
__all__ = ["FAMILIES", "PROBLEMS", "get_problem", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
