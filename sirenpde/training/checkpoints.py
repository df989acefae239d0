"""Resumable training checkpoints that know which run they belong to.

A checkpoint holds the weights, the optimiser and schedule state of the current phase, the
sampling generator, the loss history, and the run's identity (the problem with every constructor
option, model configuration, optimiser, steps, seed, ...: ``training.setup.run_identity``).
Resuming under a different identity is an error that names the first differing field, so a
checkpoint is never silently reused for another run.
"""
from __future__ import annotations

from typing import Optional

from sirenpde.io.archive import plain_data, read_archive, write_archive
from sirenpde.training.distributed import shard_seed
from sirenpde.training.phases import Phase
from sirenpde.training.state import TrainState

FORMAT = "sirenpde-checkpoint-2"
WHAT = "sirenpde checkpoint"


def first_difference(saved, wanted, prefix: str = "") -> Optional[tuple[str, object, object]]:
    """The first field (dotted path) where two identities differ, with both values; None if equal."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        for key in sorted(set(saved) | set(wanted)):
            diff = first_difference(saved.get(key, "<absent>"), wanted.get(key, "<absent>"),
                                    f"{prefix}.{key}" if prefix else str(key))
            if diff is not None:
                return diff
        return None
    return None if saved == wanted else (prefix or "<run>", saved, wanted)


def save(path, model, phase: Phase, state: TrainState, identity: dict, generator_states: dict,
         phase_state: Optional[dict] = None) -> None:
    """Write the run at ``state.step``; ``generator_states`` holds every shard's generator state,
    ``phase_state`` the phase's (default ``phase.state_dict()``; every rank's part under torchrun)."""
    write_archive(path, {
        "format": FORMAT,
        "run": identity,
        "step": int(state.step),
        "phase": phase.name,
        "model": model.state_dict(),
        "optimizer": phase.state_dict() if phase_state is None else phase_state,
        "schedule": phase.schedule.state_dict() if phase.schedule is not None else None,
        "shards": int(state.shards),
        "generators": {str(k): v for k, v in sorted(generator_states.items())},
        "history": {k: list(map(float, v)) for k, v in state.history.items()},
        "evaluations": plain_data(state.evaluations),
    })


def read(path) -> dict:
    return read_archive(path, FORMAT, WHAT)


def saved_step(path) -> int:
    """The number of steps done when the checkpoint at ``path`` was written."""
    return int(read(path)["step"])


def check_identity(path, saved: dict, identity: dict, fresh_hint: str) -> None:
    diff = first_difference(saved.get("run"), identity)
    if diff is not None:
        name, was, now = diff
        if name.endswith(".sha256"):  # an array, tensor or file, identified by a hash of its contents
            what = (f"{name[:-len('.sha256')]} has other contents (sha256 {str(was)[:12]}... there, "
                    f"{str(now)[:12]}... here)")
        else:
            what = f"{name} is {was!r} there but {now!r} here"
        raise ValueError(f"checkpoint {path} belongs to another run: {what}. {fresh_hint}")


def saved_shards(path) -> int:
    """The number of sampling shards (the starting world size) of the run saved at ``path``."""
    return int(read(path)["shards"])


def restore(path, model, phases: list[Phase], state: TrainState, identity: dict,
            fresh_hint: str = "Use another checkpoint path, or delete the file to start afresh.") -> Phase:
    """Restore a run in place from ``path``; returns the phase it resumes in."""
    saved = read(path)
    check_identity(path, saved, identity, fresh_hint)
    step = int(saved["step"])
    if step > phases[-1].stop:
        raise ValueError(f"checkpoint {path} holds {step} steps but this run has only {phases[-1].stop}. "
                         f"{fresh_hint}")
    phase = next((p for p in phases if p.name == saved["phase"] and p.start <= step <= p.stop), None)
    if phase is None:
        raise ValueError(f"checkpoint {path}: step {step} in phase {saved['phase']!r} does not fit this run's phases")
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path} does not match this model: {err}") from err
    phase.load_state_dict(saved["optimizer"])
    if phase.schedule is not None and saved["schedule"] is not None:
        phase.schedule.load_state_dict(saved["schedule"])
    saved_gens = saved["generators"]
    for shard, gen in state.generators.items():
        if str(shard) in saved_gens:
            gen.set_state(saved_gens[str(shard)])
        else:  # resumed on more ranks than the run had: a new stream, distinct from every earlier one
            gen.manual_seed(shard_seed(int(identity["settings"]["seed"]), shard) + 1_000_000_007 * step)
    state.step = state.start = step
    state.phase = phase.name
    state.history = {k: list(v) for k, v in saved["history"].items()}
    state.evaluations = list(saved.get("evaluations") or [])
    return phase


