"""Hypernetworks: one trained model answers a whole family of problems.

:mod:`~sirenpde.hyper.conditioned` holds the conditioned Sirens (film, full, concat),
:mod:`~sirenpde.hyper.encoders` the encoders from observed data to a condition, and
:mod:`~sirenpde.hyper.family` the families of problems they are trained on.
"""
from sirenpde.hyper.conditioned import (CONDITIONINGS, BoundConditioned, ConcatSiren, ConditionedSiren,
                                        FiLMSiren, HyperSiren, conditioned_siren)
from sirenpde.hyper.encoders import CNNEncoder, SetEncoder

__all__ = ["CONDITIONINGS", "BoundConditioned", "CNNEncoder", "ConcatSiren", "ConditionedSiren", "FiLMSiren",
           "HyperSiren", "SetEncoder", "conditioned_siren"]
