"""Meshing on several ranks: the sdf evaluations, which are the cost, split across processes.

Under ``torchrun`` every rank runs the same extraction. Whenever the extraction asks for sdf
values, the request is cut into the evaluator's fixed-size batches exactly as one process would
cut it, rank ``r`` of ``N`` evaluates batches ``r, r + N, ...``, and the values are gathered on
every rank. Each batch is the one the single process evaluates (same points, same padding), so
the mesh is identical to the single-process mesh; the marching itself is repeated on each rank and
only rank 0 writes files.
"""
from __future__ import annotations

import numpy as np
import torch.distributed as dist

from sirenpde.meshing.grid import SdfEvaluator


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class DistributedSdfEvaluator(SdfEvaluator):
    """An :class:`SdfEvaluator` whose batches are shared out over the process group."""

    def _shared(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        rank, world = dist.get_rank(), dist.get_world_size()
        mine = {i: self._batch(lin) for i, lin in enumerate(batches) if i % world == rank}
        everyone: list = [None] * world
        dist.all_gather_object(everyone, mine)
        values = {i: v for part in everyone for i, v in part.items()}
        out = [values[i] for i in range(len(batches))]
        # the statistics of the whole request, as one process would have counted them
        self.evaluations += sum(len(v) for i, v in values.items() if i % world != rank)
        for i, v in values.items():
            if len(v) and i % world != rank:
                self.vmin, self.vmax = min(self.vmin, float(v.min())), max(self.vmax, float(v.max()))
        return out

    def __call__(self, lin: np.ndarray) -> np.ndarray:
        lin = np.asarray(lin, dtype=np.int64)
        bs = self.batch_size
        parts = self._shared([lin[s:s + bs] for s in range(0, len(lin), bs)])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.float32)

    def evaluate_range(self, start: int, stop: int, out: np.ndarray) -> None:
        if not out.flags.c_contiguous:
            raise ValueError("evaluate_range needs a C-contiguous output buffer")
        flat = out.reshape(-1)
        bs = self.batch_size
        starts = list(range(start, stop, bs))
        parts = self._shared([np.arange(s, min(s + bs, stop), dtype=np.int64) for s in starts])
        for s, values in zip(starts, parts):
            flat[s - start:s - start + len(values)] = values
