"""Analytic signed distance functions with closed-form area and volume.

Each shape is a plain callable on points ``(n, 3)``, numpy or torch (returning the same kind),
negative inside, returning ``(n,)``. They are exact Euclidean distances, so Lipschitz-1, which
makes the sparse extraction provably equal to the dense one on them.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _ops(x):
    """Elementwise helpers for numpy or torch arrays."""
    if isinstance(x, torch.Tensor):
        return torch.sqrt, lambda a: torch.clamp(a, min=0), lambda a: torch.clamp(a, max=0), \
            lambda a: torch.amax(a, dim=-1)
    return np.sqrt, lambda a: np.maximum(a, 0), lambda a: np.minimum(a, 0), lambda a: np.max(a, axis=-1)


def _centred(x, center):
    if isinstance(x, torch.Tensor):
        return x - torch.as_tensor(center, dtype=x.dtype, device=x.device)
    return np.asarray(x) - np.asarray(center, dtype=np.float64)


class Sphere:
    """Sphere of ``radius`` about ``center``."""

    def __init__(self, radius: float = 0.5, center=(0.0, 0.0, 0.0)):
        self.radius, self.center = float(radius), tuple(float(c) for c in center)

    def __call__(self, x):
        sqrt = _ops(x)[0]
        p = _centred(x, self.center)
        return sqrt((p ** 2).sum(-1)) - self.radius

    @property
    def area(self) -> float:
        return 4.0 * math.pi * self.radius ** 2

    @property
    def volume(self) -> float:
        return 4.0 / 3.0 * math.pi * self.radius ** 3


class Torus:
    """Torus about the z axis through ``center``: tube radius ``minor`` around a circle of ``major``."""

    def __init__(self, major: float = 0.5, minor: float = 0.2, center=(0.0, 0.0, 0.0)):
        if not 0 < minor < major:
            raise ValueError(f"a torus needs 0 < minor < major; got major={major}, minor={minor}")
        self.major, self.minor = float(major), float(minor)
        self.center = tuple(float(c) for c in center)

    def __call__(self, x):
        sqrt = _ops(x)[0]
        p = _centred(x, self.center)
        ring = sqrt(p[..., 0] ** 2 + p[..., 1] ** 2) - self.major
        return sqrt(ring ** 2 + p[..., 2] ** 2) - self.minor

    @property
    def area(self) -> float:
        return 4.0 * math.pi ** 2 * self.major * self.minor

    @property
    def volume(self) -> float:
        return 2.0 * math.pi ** 2 * self.major * self.minor ** 2


class Box:
    """Axis-aligned box with half side lengths ``half`` about ``center``."""

    def __init__(self, half=(0.5, 0.4, 0.3), center=(0.0, 0.0, 0.0)):
        self.half = tuple(float(h) for h in half)
        if len(self.half) != 3 or min(self.half) <= 0:
            raise ValueError(f"a box needs 3 positive half side lengths; got {half!r}")
        self.center = tuple(float(c) for c in center)

    def __call__(self, x):
        sqrt, pos, neg, amax = _ops(x)
        p = _centred(x, self.center)
        q = abs(p) - (torch.as_tensor(self.half, dtype=p.dtype, device=p.device)
                      if isinstance(p, torch.Tensor) else np.asarray(self.half))
        return sqrt((pos(q) ** 2).sum(-1)) + neg(amax(q))

    @property
    def area(self) -> float:
        a, b, c = self.half
        return 8.0 * (a * b + b * c + c * a)

    @property
    def volume(self) -> float:
        a, b, c = self.half
        return 8.0 * a * b * c


class Union:
    """Union of shapes (the minimum of their SDFs: exact outside, a Lipschitz-1 bound inside).

    ``area`` and ``volume`` add up the parts, which is right only when they do not overlap.
    """

    def __init__(self, *shapes):
        if not shapes:
            raise ValueError("a union needs at least one shape")
        self.shapes = shapes

    def __call__(self, x):
        values = [s(x) for s in self.shapes]
        out = values[0]
        for v in values[1:]:
            out = torch.minimum(out, v) if isinstance(out, torch.Tensor) else np.minimum(out, v)
        return out

    @property
    def area(self) -> float:
        return sum(s.area for s in self.shapes)

    @property
    def volume(self) -> float:
        return sum(s.volume for s in self.shapes)
