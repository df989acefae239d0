"""Distributed training on torch.distributed: DistributedDataParallel under ``torchrun``.

A run's global batch is drawn as ``shards`` independent streams, one ``torch.Generator`` each,
seeded from the run's seed and the shard number (shard 0 uses the seed itself, so a one-process
run is exactly the run without distribution). Rank ``r`` of ``N`` draws the shards ``s`` with
``s % N == r``; ``shards`` is the world size the run started with and is kept in checkpoints, so a
run resumed on any number of ranks up to that draws the same union batch (on more ranks, streams
are added and the batches from then on differ from the original run's). Each rank scales its
per-constraint losses by ``N n_r / n`` (its share of the points), so DDP's gradient average is
the gradient of the mean over the union batch, and the reported losses are all-reduced the same
way: every rank sees the same numbers, and a non-finite loss stops every rank together.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import sys
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from sirenpde.training.state import resolve_device

TIMEOUT_S = float(os.environ.get("SIRENPDE_DIST_TIMEOUT", "300"))


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: its rank, the world size, and its local rank on the node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1 or (dist.is_available() and dist.is_initialized())

    @property
    def is_writer(self) -> bool:
        """Rank 0 alone writes progress, checkpoints, metrics and outputs."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be an integer, got {os.environ['WORLD_SIZE']!r}") from None


def setup(distributed: Optional[bool], device) -> tuple[Ranks, torch.device]:
    """Initialise the process group when launched by torchrun (``WORLD_SIZE > 1``) or asked to
    (``distributed=True``): NCCL on CUDA, gloo on the CPU. Returns the ranks and this rank's
    device (``cuda:LOCAL_RANK`` for CUDA runs). Without distribution: ``Ranks()`` and ``device``."""
    dev = resolve_device(device)
    wanted = env_world_size() > 1 if distributed is None else bool(distributed)
    if not wanted:
        return Ranks(), dev
    if not dist.is_available():
        raise RuntimeError("distributed training asked for, but this torch build has no torch.distributed")
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ and not dist.is_initialized():
            raise RuntimeError(f"distributed training needs the environment variable {var}: launch with "
                               f"`torchrun --nproc_per_node N ...` (see the README's 'Scaling out')")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(seconds=TIMEOUT_S))
        # Left to interpreter shutdown, gloo's threads were sometimes destroyed while still running
        # ("terminate called without an active exception", SIGABRT, about 1 run in 5 on a loaded
        # 2-core machine); destroying the group first ends them in order.
        atexit.register(_destroy)
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank), dev


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_process(code: int) -> None:
    """End a script run under torchrun with ``code``: flush the output, destroy the process group,
    and leave without the interpreter's teardown, where gloo's threads still sometimes aborted the
    process (SIGABRT, "terminate called without an active exception") after the group was
    destroyed. For a script's last line only; never inside a process that should go on."""
    sys.stdout.flush()
    sys.stderr.flush()
    _destroy()
    os._exit(int(code))


def shard_seed(seed: int, shard: int) -> int:
    """The seed of shard ``shard``'s generator: the run's seed for shard 0, distinct streams after."""
    return int(seed) if shard == 0 else (int(seed) * 1_000_003 + 7_919 * shard) % (2**63 - 1)


class Sharding:
    """Which shards of every batch this rank draws, and how its losses are scaled."""

    def __init__(self, ranks: Ranks, shards: int):
        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self.ranks, self.shards = ranks, int(shards)
        self.owned = [s for s in range(self.shards) if s % ranks.world == ranks.rank]

    def generators(self, seed: int) -> dict[int, torch.Generator]:
        return {s: torch.Generator().manual_seed(shard_seed(seed, s)) for s in self.owned}

    def shard_count(self, count: int, shard: int) -> int:
        return count // self.shards + (1 if shard < count % self.shards else 0)

    def check(self, constraints, counts: Sequence[int]) -> None:
        """Every shard needs at least one point of every constraint."""
        for con, count in zip(constraints, counts):
            if count < self.shards:
                raise ValueError(f"constraint {con.name!r} gets {count} points per step, fewer than the "
                                 f"{self.shards} sampling shards (ranks); raise batch_size")
        if not self.owned:
            raise ValueError(f"rank {self.ranks.rank} of {self.ranks.world} owns none of the run's "
                             f"{self.shards} sampling shards: resume on at most {self.shards} ranks")

    def sample(self, constraints, counts: Sequence[int], generators: dict, coefficients: dict):
        """This rank's batches and the per-constraint loss scales (None when undistributed)."""
        batches, scales = [], []
        for con, count in zip(constraints, counts):
            parts = [con.sample(self.shard_count(count, s), generators[s], coefficients) for s in self.owned]
            batch = parts[0] if len(parts) == 1 else concat_batches(parts, con.name)
            batches.append(batch)
            scales.append(self.ranks.world * len(batch["x"]) / max(1, count))
        if self.ranks.world == 1 and self.shards == 1:
            return batches, None
        return batches, scales


def concat_batches(parts: list[dict], name: str) -> dict:
    """Join the batches of several shards: per-point tensors along the first axis; everything
    else (curriculum coefficients, per-constraint constants) must agree and is kept once."""
    out = {}
    for key in parts[0]:
        values = [p[key] for p in parts]
        per_point = [torch.is_tensor(v) and v.ndim > 0 and len(v) == len(p["x"]) for v, p in zip(values, parts)]
        if all(per_point):
            out[key] = torch.cat(values)
        elif all(v is values[0] or (torch.is_tensor(v) and torch.equal(v, values[0])) or v == values[0]
                 for v in values):
            out[key] = values[0]
        else:
            raise ValueError(f"constraint {name!r}: batch entry {key!r} is neither per point nor the same in "
                             f"every shard, so shards cannot be joined")
    return out


def wrap(loss: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """The loss module in DistributedDataParallel when distributed, else itself. DDP all-reduces
    the gradients of the parameters used inside ``forward``, which is where every field,
    derivative and residual is computed."""
    if not ranks.active:
        return loss
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(loss, device_ids=ids, output_device=device.index if ids else None)


def reducer(ranks: Ranks):
    """``reduce(losses)``: the mean over ranks of the scaled per-rank losses, i.e. the losses on the
    union batch (the identity when undistributed)."""
    if not ranks.active:
        return lambda losses: losses.detach()

    def reduce(losses: Tensor) -> Tensor:
        out = losses.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / ranks.world

    return reduce


class RankRows:
    """The rows of a Gauss-Newton system spread over the ranks (``gauss_newton.Rows``'s protocol):
    each rank builds the rows of its own points; ``gather`` joins every rank's rows on every rank
    (in rank order, padded with zero rows to the longest share for the collective, which leave
    ``J^T J``, ``J^T r`` and the damped step unchanged, then stripped); ``total`` and ``sum``
    all-reduce; ``same`` broadcasts rank 0's step, so the ranks' parameters stay bit-identical even
    where their arithmetic would round differently."""

    def __init__(self, ranks: Ranks):
        self.ranks, self.world = ranks, ranks.world

    def total(self, sizes: list[int]) -> list[int]:
        t = torch.tensor(sizes, dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return [int(v) for v in t]

    def gather(self, t: Tensor) -> Tensor:
        n = torch.tensor([t.shape[0]], dtype=torch.int64)
        counts = [torch.zeros_like(n) for _ in range(self.world)]
        dist.all_gather(counts, n)
        counts = [int(c) for c in counts]
        padded = t.new_zeros((max(counts), *t.shape[1:]))
        padded[: t.shape[0]] = t
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(parts, padded.contiguous())
        return torch.cat([part[:count] for part, count in zip(parts, counts)])

    def sum(self, value: float) -> float:
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t)

    def same(self, t: Tensor) -> Tensor:
        t = t.contiguous()
        dist.broadcast(t, src=0)
        return t


def rows_of(ranks: Ranks):
    """The Gauss-Newton rows object of this run: :class:`RankRows` when distributed, else None
    (one process holds every row)."""
    return RankRows(ranks) if ranks.active and ranks.world > 1 else None


def gather_generators(ranks: Ranks, generators: dict[int, torch.Generator]) -> dict[int, Tensor]:
    """Every shard's generator state, on every rank (a collective: all ranks must call it)."""
    mine = {s: g.get_state() for s, g in generators.items()}
    if not ranks.active:
        return mine
    everyone: list = [None] * ranks.world
    dist.all_gather_object(everyone, mine)
    return {s: state for part in everyone for s, state in part.items()}


def broadcast_object(ranks: Ranks, obj):
    """Rank 0's ``obj`` on every rank."""
    if not ranks.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@contextlib.contextmanager
def lost_ranks_reported(ranks: Ranks, state):
    """Turn a failed collective (a rank died, or hung past the timeout) into a clear error."""
    try:
        yield
    except dist.DistError as err:
        if not ranks.active:
            raise
        raise RuntimeError(f"rank {ranks.rank} of {ranks.world}: lost contact with the other ranks at step "
                           f"{state.step} (a rank died or stopped answering within {TIMEOUT_S:g} s): "
                           f"{str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}") from err


def current() -> Ranks:
    """This process's ranks from an initialised process group (``Ranks()`` when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return Ranks()


def init_from_env(device="auto") -> Ranks:
    """Join the process group when launched by torchrun (``WORLD_SIZE > 1``); for commands that do
    not train (``sirenpde mesh``) but should share their work. ``Ranks()`` otherwise."""
    if env_world_size() <= 1:
        return Ranks()
    return setup(True, device)[0]
