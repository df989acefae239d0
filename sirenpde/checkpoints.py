"""Resumable training checkpoints (plain tensors and numbers, loaded with weights_only=True)."""
from __future__ import annotations

from pathlib import Path

import torch

from sirenpde.io.atomic import atomic_path

FORMAT = "sirenpde-checkpoint-1"


def save(path, model, opt, sched, generator: torch.Generator, step: int, history: dict) -> None:
    state = {
        "format": FORMAT,
        "step": int(step),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "schedule": sched.state_dict() if sched is not None else None,
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": {k: list(map(float, v)) for k, v in history.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _read(path) -> dict:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign or corrupt files
        raise ValueError(f"checkpoint {path} could not be read as a sirenpde checkpoint: {err}") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a sirenpde checkpoint (format {FORMAT!r} expected)")
    return state


def saved_step(path) -> int:
    """The number of steps done when the checkpoint at ``path`` was written."""
    return int(_read(path)["step"])


def load(path, model, opt, sched, generator: torch.Generator) -> tuple[int, dict]:
    """Restore training state in place; returns ``(step, history)``."""
    path = Path(path)
    state = _read(path)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path} does not match this model: {err}") from err
    opt.load_state_dict(state["optimizer"])
    if sched is not None and state["schedule"] is not None:
        sched.load_state_dict(state["schedule"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), {k: list(v) for k, v in state["history"].items()}
