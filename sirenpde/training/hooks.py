"""Side effects of a training run as small pieces the loop calls: the loss history, the progress
bar, evaluations, checkpoints and the user's callback.

Each hook may define ``on_phase(phase, state)``, ``on_batch(state, batches, scales)`` (before the
step, with the step's batches: the loss balance), ``after_step(state)`` and ``on_end(state)``.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import torch

from sirenpde.training import checkpoints
from sirenpde.training.distributed import Ranks, gather_generators
from sirenpde.training.gauss_newton import GAUSS_NEWTON
from sirenpde.training.phases import phase_at

DAMPING = "gn/damping"  # the history's record of each Gauss-Newton step's damping
from sirenpde.training.state import TrainState, plain


class Recorder:
    """Collects each step's losses on the device and copies them into ``state.history`` in groups,
    so a GPU run does not wait for the host every step."""

    FLUSH_EVERY = 50

    def __init__(self, names: list[str]):
        self.names = list(names) + ["total"]
        self.pending: list[torch.Tensor] = []

    def record(self, losses: torch.Tensor, total: torch.Tensor) -> None:
        self.pending.append(torch.cat([losses.reshape(-1), total.reshape(1)]))

    def flush(self, state: TrainState) -> None:
        if not self.pending:
            return
        values = torch.stack(self.pending).cpu().numpy()
        for j, name in enumerate(self.names):
            state.history[name].extend(float(v) for v in values[:, j])
        self.pending.clear()

    def after_step(self, state: TrainState) -> None:
        if len(self.pending) >= self.FLUSH_EVERY:
            self.flush(state)

    def on_end(self, state: TrainState) -> None:
        self.flush(state)


class Progress:
    """A tqdm bar over the run's steps, with the latest total loss."""

    def __init__(self, recorder: Recorder, name: str, total_steps: int, start: int):
        from tqdm.auto import tqdm  # only when a bar is shown

        self.recorder, self.name, self.gauss_newton = recorder, name, False
        self.bar = tqdm(desc=f"fit {name}", initial=start, total=total_steps, dynamic_ncols=True)

    LABELS = {"lbfgs": "L-BFGS", GAUSS_NEWTON: "Gauss-Newton"}

    def on_phase(self, phase, state: TrainState) -> None:
        self.gauss_newton = phase.name == GAUSS_NEWTON
        if phase.name in self.LABELS:
            self.bar.set_description(f"fit {self.name} ({self.LABELS[phase.name]})")

    def after_step(self, state: TrainState) -> None:
        self.bar.update(1)
        # a Gauss-Newton step takes long enough to show each one's loss and damping
        if self.gauss_newton or state.step % Recorder.FLUSH_EVERY == 0 or state.step == self.bar.total:
            self.recorder.flush(state)
            postfix = {"loss": f"{state.history['total'][-1]:.3g}"}
            if self.gauss_newton and state.history.get(DAMPING):
                postfix["damping"] = f"{state.history[DAMPING][-1]:.2g}"
            self.bar.set_postfix(postfix)

    def on_end(self, state: TrainState) -> None:
        self.bar.close()


class Damping:
    """The damping of every Gauss-Newton step (after the step), in ``state.history["gn/damping"]``."""

    def __init__(self):
        self.phase = None

    def on_phase(self, phase, state: TrainState) -> None:
        self.phase = phase if phase.name == GAUSS_NEWTON else None

    def after_step(self, state: TrainState) -> None:
        if self.phase is not None:
            state.history.setdefault(DAMPING, []).append(float(self.phase.damping))


class Evaluate:
    """``problem.metrics(model)`` every ``every`` steps and at the end, into ``state.evaluations``."""

    def __init__(self, problem, model, every: int, total_steps: int):
        self.problem, self.model, self.every, self.total = problem, model, int(every), total_steps

    def after_step(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.step == self.total:
            state.evaluations.append({"step": state.step, "train_s": state.train_s,
                                      **plain(self.problem.metrics(self.model))})
            self.model.train()


class Checkpoint:
    """Save the run every ``every`` steps and at the end."""

    def __init__(self, path, model, phases, identity: dict, every: int, total_steps: int,
                 recorder: Recorder, ranks: Ranks):
        self.path, self.model, self.phases, self.identity = path, model, phases, identity
        self.every, self.total, self.recorder, self.ranks = every, total_steps, recorder, ranks

    def after_step(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.step == self.total:
            self.recorder.flush(state)
            generator_states = gather_generators(self.ranks, state.generators)  # every rank takes part
            phase = phase_at(self.phases, state.step - 1)
            phase_state = phase.shared_state()  # every rank takes part (a Gauss-Newton phase's points)
            if self.ranks.is_writer:
                checkpoints.save(self.path, self.model, phase, state, self.identity, generator_states, phase_state)
            self.ranks.barrier()


class Callback:
    """The user's ``callback(step, losses)`` after every step (0-based step, latest losses)."""

    def __init__(self, fn: Callable[[int, dict], None], recorder: Recorder):
        self.fn, self.recorder = fn, recorder

    def after_step(self, state: TrainState) -> None:
        self.recorder.flush(state)
        self.fn(state.step - 1, {k: v[-1] for k, v in state.history.items()})


def call(hooks: list, event: str, *args) -> None:
    for hook in hooks:
        method: Optional[Callable] = getattr(hook, event, None)
        if method is not None:
            method(*args)


class Timer:
    """Wall time of a block, added to ``state.train_s``; waits for a CUDA device first."""

    def __init__(self, state: TrainState, device: torch.device):
        self.state, self.device = state, device

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.state.train_s += time.perf_counter() - self.t0
        return False


def make_hooks(problem, model, phases, state: TrainState, recorder: Recorder, ranks: Ranks, identity: dict, *,
               progress: bool, callback, eval_every, checkpoint, checkpoint_every) -> list:
    """The side effects of one run, in the order they run after each step. Rank 0 alone shows
    progress and evaluates; every rank takes part in checkpoints (their generators are gathered)."""
    total = phases[-1].stop
    hooks: list = [recorder]
    if any(phase.name == GAUSS_NEWTON for phase in phases):
        hooks.append(Damping())  # before the bar, which shows it
    if progress and ranks.is_writer:
        hooks.append(Progress(recorder, problem.name, total, state.step))
    if callback is not None:
        hooks.append(Callback(callback, recorder))
    if eval_every and ranks.is_writer:
        hooks.append(Evaluate(problem, model, eval_every, total))
    if checkpoint is not None:
        every = checkpoint_every or max(1, total // 10)
        hooks.append(Checkpoint(checkpoint, model, phases, identity, every, total, recorder, ranks))
    return hooks
