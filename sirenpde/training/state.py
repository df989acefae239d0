"""The explicit state of a training run, and the result it turns into."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


@dataclass
class TrainState:
    """Everything that changes while a run trains (besides the weights and optimiser state).

    Attributes
    ----------
    step : steps done so far, over all phases
    phase : name of the current phase (``"adam"``, ``"lbfgs"``)
    generators : the sampling generators of the shards this process draws (one, numbered 0, in a
        one-process run), by shard number; their states are saved in checkpoints
    shards : the number of sampling shards of the run (the world size it started with)
    history : dict name -> list of float, every constraint's loss and ``"total"`` per step
    train_s : wall time of the steps so far in this process (evaluation excluded)
    evaluations : the metrics recorded every ``eval_every`` steps
    start : the step this process started from (after a resume)
    """

    step: int
    phase: str
    generators: dict[int, torch.Generator]
    history: dict[str, list[float]]
    train_s: float = 0.0
    evaluations: list[dict] = field(default_factory=list)
    start: int = 0
    shards: int = 1

    @classmethod
    def fresh(cls, names: list[str], phase: str, generators: dict[int, torch.Generator],
              shards: int = 1) -> "TrainState":
        history = {name: [] for name in names}
        history["total"] = []
        return cls(0, phase, generators, history, shards=shards)


@dataclass
class FitResult:
    """What :func:`sirenpde.fit` returns.

    Attributes
    ----------
    model : the trained module (on the device it was trained on)
    history : dict name -> list of float, the loss of every constraint and ``"total"`` per step
    metrics : dict, ``problem.metrics(model)`` after training
    times : dict, ``train_s`` (wall time of the steps), ``metrics_s``, ``steps_per_s``
    steps : total steps (all phases)
    evaluations : list of dict, the metrics every ``eval_every`` steps with ``step`` and
        ``train_s`` (training wall time up to that step, evaluation time excluded)
    settings : dict, the resolved training settings (optimizer, steps, learning rate, batch sizes,
        Gauss-Newton phase, dtype, ...: the problem's defaults filled in)
    """

    model: nn.Module
    history: dict[str, list[float]]
    metrics: dict[str, float]
    times: dict[str, float]
    steps: int
    evaluations: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def plain(metrics: dict) -> dict:
    """Numpy and 0-d torch scalars as Python numbers, so metrics print and serialise plainly."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        out[key] = value
    return out


def resolve_device(device) -> torch.device:
    """"auto" is CUDA when available, else the CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but CUDA is not available; use device='cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    return dev


def timing(state: TrainState, metrics_s: float) -> dict:
    done = state.step - state.start
    return {"train_s": state.train_s, "metrics_s": metrics_s,
            "steps_per_s": done / state.train_s if state.train_s > 0 else float("nan")}
