"""Optimisers and learning-rate schedules by name."""
from __future__ import annotations

import math
from typing import Optional

import torch

from sirenpde.registry import OPTIMIZERS, SCHEDULES  # names readable without torch (the CLI's choices)

WARMUP_SHARE = 0.05  # "warmup-cosine": the share of the run spent ramping the rate up


def make_optimizer(name: str, params, lr: float, options: Optional[dict] = None) -> torch.optim.Optimizer:
    """``adam`` (default), or ``lbfgs`` (strong-Wolfe line search, 20 inner iterations per step).

    ``options`` are extra keyword arguments of the torch optimiser, e.g. ``{"betas": (0.9, 0.99)}``
    for Adam or ``{"max_iter": 50}`` for L-BFGS; they override the defaults above.
    """
    options = dict(options or {})
    if "lr" in options:
        raise ValueError("pass the learning rate as lr, not inside the optimizer options")
    if name == "adam":
        cls, kwargs = torch.optim.Adam, {}
    elif name == "lbfgs":
        cls, kwargs = torch.optim.LBFGS, {"max_iter": 20, "history_size": 50, "line_search_fn": "strong_wolfe"}
    elif name in OPTIMIZERS:  # gauss-newton: not a torch optimiser (training.phases builds it)
        raise ValueError(f"make_optimizer: {name!r} is not a torch optimiser; train with fit(optimizer={name!r})")
    else:
        raise ValueError(f"unknown optimizer {name!r}; valid optimizers: {', '.join(OPTIMIZERS)}")
    try:
        return cls(params, lr=lr, **{**kwargs, **options})
    except TypeError as err:  # an unknown keyword: name it and the optimiser
        raise ValueError(f"optimizer {name!r} does not accept the options {sorted(options)}: {err}") from err


def make_schedule(name: Optional[str], opt: torch.optim.Optimizer, steps: int):
    """None or ``"none"`` (constant rate), ``cosine`` (to 1% of the rate), ``warmup-cosine`` (a linear
    ramp from 1% to the full rate over the first ``WARMUP_SHARE`` of the run, then the cosine over
    the rest), ``exponential`` (to 1%) or ``step`` (halved at 50% and 75% of the run)."""
    if name is None or name == "none":
        return None
    steps = max(1, steps)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=opt.defaults["lr"] * 1e-2)
    if name == "warmup-cosine":
        warm = max(1, round(WARMUP_SHARE * steps))
        rest = max(1, steps - warm)

        def factor(step: int) -> float:
            if step < warm:
                return 0.01 + 0.99 * step / warm
            return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(step - warm, rest) / rest))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.01 ** (1.0 / steps))
    if name == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[steps // 2, (3 * steps) // 4], gamma=0.5)
    raise ValueError(f"unknown schedule {name!r}; valid schedules: {', '.join(SCHEDULES)}, 'none' or None")
