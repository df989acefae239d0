"""Checked point arrays, shared by the point-cloud reader and the normal estimator."""
from __future__ import annotations

import numpy as np


def as_points(a, name: str) -> np.ndarray:
    """``a`` as a float64 array of shape ``(n, 3)``; ``ValueError`` naming ``name`` otherwise."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {a.shape}")
    return a
