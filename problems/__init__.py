"""Problems by name. Adding a problem means adding a module and a line in ``PROBLEMS``."""
from __future__ import annotations

from sirenpde.problem import Box, Constraint, Problem
from sirenpde.problems.audio_fit import AudioFit
from sirenpde.problems.helmholtz import Helmholtz
from sirenpde.problems.helmholtz_inverse import HelmholtzInverse
from sirenpde.problems.helmholtz_square import HelmholtzSquare
from sirenpde.problems.image_fit import ImageFit
from sirenpde.problems.poisson import GradientComposite, PoissonGradient, PoissonLaplacian
from sirenpde.problems.sdf import SDF
from sirenpde.problems.wave import Wave

PROBLEMS: dict[str, type[Problem]] = {
    "image-fit": ImageFit,
    "audio-fit": AudioFit,
    "poisson-gradient": PoissonGradient,
    "poisson-laplacian": PoissonLaplacian,
    "gradient-composite": GradientComposite,
    "helmholtz": Helmholtz,
    "helmholtz-inverse": HelmholtzInverse,
    "helmholtz-square": HelmholtzSquare,
    "wave": Wave,
    "sdf": SDF,
}


def get_problem(name: str, **kwargs) -> Problem:
    """Build a registered problem by name with its keyword arguments."""
    try:
        cls = PROBLEMS[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; valid problems: {', '.join(sorted(PROBLEMS))}") from None
    return cls(**kwargs)


__all__ = ["PROBLEMS", "get_problem", "Problem", "Constraint", "Box", "AudioFit", "ImageFit",
           "PoissonGradient", "PoissonLaplacian", "GradientComposite", "Helmholtz", "HelmholtzInverse", "HelmholtzSquare", "Wave", "SDF"]
