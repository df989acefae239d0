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
from sirenpde.hyper.inpainting import InpaintingModel
from sirenpde.hyper.inpainting_train import fit_inpainting, load_inpainting, save_inpainting

from sirenpde.problems import FAMILIES


def get_family(name: str, extrapolate: bool = False, **options) -> Family:
    """Build a registered family by name (``sirenpde.problems.FAMILIES``); ``options`` override the
    options its members share."""
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; valid families: {', '.join(FAMILIES)}")
    spec = FAMILIES[name]
    return Family(spec["problem"], ranges=spec.get("ranges"), extrapolate=extrapolate, shift=spec.get("shift"),
                  name=name, defaults=spec.get("defaults"), **{**spec.get("options", {}), **options})

__all__ = ["CONDITIONINGS", "FAMILIES", "BoundConditioned", "CNNEncoder", "ConcatSiren", "ConditionedSiren",
           "FiLMSiren", "Family", "FamilyLoss", "FamilyProblem", "HyperSiren", "InpaintingModel",
           "SetEncoder", "conditioned_siren", "fit_family", "fit_inpainting",
           "get_family", "load_inpainting", "save_inpainting"]
