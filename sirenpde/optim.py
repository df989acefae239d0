"""Optimisers and learning-rate schedules by name."""
from __future__ import annotations

from typing import Optional

import torch

OPTIMIZERS = ("adam", "lbfgs")
SCHEDULES = ("cosine", "exponential", "step")


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """``adam`` (default), or ``lbfgs`` (strong-Wolfe line search, 20 inner iterations per step)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "lbfgs":
        return torch.optim.LBFGS(params, lr=lr, max_iter=20, history_size=50, line_search_fn="strong_wolfe")
    raise ValueError(f"unknown optimizer {name!r}; valid optimizers: {', '.join(OPTIMIZERS)}")


def make_schedule(name: Optional[str], opt: torch.optim.Optimizer, steps: int):
    """None or ``"none"`` (constant rate), ``cosine`` (to 1% of the rate), ``exponential`` (to 1%) or
    ``step`` (halved at 50% and 75% of the run)."""
    if name is None or name == "none":
        return None
    steps = max(1, steps)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=opt.defaults["lr"] * 1e-2)
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.01 ** (1.0 / steps))
    if name == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[steps // 2, (3 * steps) // 4], gamma=0.5)
    raise ValueError(f"unknown schedule {name!r}; valid schedules: {', '.join(SCHEDULES)}, 'none' or None")
