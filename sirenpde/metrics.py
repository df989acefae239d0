"""Error measures used by the problems."""
from __future__ import annotations

import numpy as np


def psnr(pred, target, data_range: float = 2.0, remove_mean: bool = False) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / mse)``.

    ``data_range`` is 2 for signals in [-1, 1] (the package's convention for images and
    audio), which gives the same number as the usual PSNR of images in [0, 1].
    With ``remove_mean`` both signals are centred first (a field known up to a constant).
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"psnr: shapes differ, {pred.shape} vs {target.shape}")
    if remove_mean:
        pred, target = pred - pred.mean(), target - target.mean()
    mse = float(np.mean((pred - target) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


def relative_l2(pred, target) -> float:
    """``||pred - target|| / ||target||`` over all entries."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"relative_l2: shapes differ, {pred.shape} vs {target.shape}")
    norm = np.linalg.norm(target)
    if norm == 0:
        raise ValueError("relative_l2: the target is zero everywhere")
    return float(np.linalg.norm(pred - target) / norm)
