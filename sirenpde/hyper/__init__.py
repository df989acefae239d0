"""Hypernetworks: one trained model answers a whole family of problems.

:mod:`~sirenpde.hyper.conditioned` holds the conditioned Sirens (film, full, concat),
:mod:`~sirenpde.hyper.encoders` the encoders from observed data to a condition, and
:mod:`~sirenpde.hyper.family` the families of problems they are trained on, and
:mod:`~sirenpde.hyper.inpainting` the image hypernetwork on faces (an encoder-conditioned model).
"""
from sirenpde.hyper.conditioned import (CONDITIONINGS, BoundConditioned, ConcatSiren, ConditionedSiren,
                                        FiLMSiren, HyperSiren, conditioned_siren)
from sirenpde.hyper.encoders import CNNEncoder, SetEncoder
from sirenpde.hyper.family import Family
from sirenpde.hyper.fit import FamilyLoss, FamilyProblem, fit_family
from sirenpde.hyper.poisson_family import PoissonBump, PoissonFamily

from sirenpde.hyper.helmholtz_family import HelmholtzFamily
from sirenpde.hyper.inpainting import InpaintingModel
from sirenpde.hyper.inpainting_train import fit_inpainting, load_inpainting, save_inpainting

FAMILIES: dict[str, type[Family]] = {"poisson-family": PoissonFamily, "helmholtz-family": HelmholtzFamily}


def get_family(name: str, **kwargs) -> Family:
    """Build a family by name: one of ``FAMILIES``."""
    try:
        cls = FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; valid families: {', '.join(FAMILIES)}") from None
    return cls(**kwargs)

__all__ = ["CONDITIONINGS", "FAMILIES", "BoundConditioned", "CNNEncoder", "ConcatSiren", "ConditionedSiren",
           "FiLMSiren", "Family", "FamilyLoss", "HelmholtzFamily", "FamilyProblem", "HyperSiren", "InpaintingModel",
           "PoissonBump", "PoissonFamily", "SetEncoder", "conditioned_siren", "fit_family", "fit_inpainting",
           "get_family", "load_inpainting", "save_inpainting"]
