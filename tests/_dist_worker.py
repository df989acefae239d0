"""Run under ``torchrun --nproc_per_node 2`` (gloo): distributed training against the single process.

``python -m torch.distributed.run --standalone --nproc_per_node 2 tests/_dist_worker.py MODE OUT``

- ``grads``: for each case, one step's parameter gradients on 2 ranks against the single process
  on the union of the ranks' batches, a negative control that takes the derivatives outside the
  wrapped forward, and the parameters after 5 Adam steps (``fit(distributed=True)``) against the
  single-process loop on the union batches. Rank 0 writes ``OUT/grads.json``.
- ``full`` / ``part``: a 20-step run with a checkpoint, uninterrupted / stopped after step 12
  (its last checkpoint holds step 10). Rank 0 saves the final weights to ``OUT/MODE.pt``.
- ``kill``: rank 1 dies at step 3; the other rank must not hang.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dist_problems import CASES, Poisson2D, counts_of, fit_case, loss_class_of, make_case  # noqa: E402

import sirenpde  # noqa: E402
from sirenpde.training.distributed import Ranks, Sharding, setup, wrap  # noqa: E402
from sirenpde.training.loop import to_device  # noqa: E402

BATCH = 101  # odd, so the ranks' shares differ and the loss scaling is exercised
SEED = 5


def union_step(problem, model, engine, shards, seed=SEED):
    """Gradients of the single process on the union of ``shards`` shards' batches."""
    cons = problem.constraints()
    sharding = Sharding(Ranks(), shards)
    batches, scales = sharding.sample(cons, counts_of(problem, BATCH), sharding.generators(seed), {})
    loss = loss_class_of(problem)(model, cons, engine)
    losses = loss(to_device(batches, torch.device("cpu"), torch.float64), scales)
    loss.total(losses).backward()
    return [p.grad.clone() for p in model.parameters()]


def dist_step(problem, model, engine, ranks, outside=False):
    cons = problem.constraints()
    sharding = Sharding(ranks, ranks.world)
    batches, scales = sharding.sample(cons, counts_of(problem, BATCH), sharding.generators(SEED), {})
    batches = to_device(batches, torch.device("cpu"), torch.float64)
    ddp = wrap(loss_class_of(problem)(model, cons, engine), ranks, torch.device("cpu"))
    # the negative control calls the inner module, outside DDP's forward: no all-reduce is armed
    losses = ddp.module(batches, scales) if outside else ddp(batches, scales)
    ddp.module.total(losses).backward()
    return [p.grad.clone() for p in model.parameters()]


def union_adam(problem, model, engine, steps, shards, lr):
    """The single-process loop on the union batches: what fit does on ``shards`` ranks."""
    cons = problem.constraints()
    sharding = Sharding(Ranks(), shards)
    gens = sharding.generators(SEED)
    loss = loss_class_of(problem)(model, cons, engine)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        batches, scales = sharding.sample(cons, counts_of(problem, BATCH), gens, {})
        opt.zero_grad()
        loss.total(loss(to_device(batches, torch.device("cpu"), torch.float64), scales)).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def max_diff(a, b):
    return max(float((x.detach() - y.detach()).abs().max()) for x, y in zip(a, b))


def mode_grads(out: Path, ranks: Ranks) -> None:
    report = {}
    for name in CASES:
        problem, model, engine = make_case(name)
        ref = union_step(problem, copy.deepcopy(model), engine, ranks.world)
        got = dist_step(problem, copy.deepcopy(model), engine, ranks)
        neg = dist_step(problem, copy.deepcopy(model), engine, ranks, outside=True)
        res = fit_case(problem, copy.deepcopy(model), engine, steps=5, lr=1e-3, batch_size=BATCH, seed=SEED,
                       progress=False, distributed=True)
        ref_params = union_adam(problem, copy.deepcopy(model), engine, 5, ranks.world, 1e-3)
        init = [p.detach() for p in model.parameters()]
        report[name] = {"grad_diff": max_diff(got, ref), "grad_scale": max(float(g.abs().max()) for g in ref),
                        "negative_diff": max_diff(neg, ref),
                        "param_diff": max_diff(list(res.model.parameters()), ref_params),
                        "param_moved": max_diff(ref_params, init)}
    if ranks.is_writer:
        (out / "grads.json").write_text(json.dumps(report, indent=1))


def mode_run(out: Path, ranks: Ranks, mode: str) -> None:
    problem = Poisson2D()
    model = problem.make_model("siren", seed=1, hidden_features=16, hidden_layers=1).double()

    def stop(step, losses):
        if mode == "part" and step == 11:
            raise SystemExit(0)  # every rank stops after step 12; the checkpoint holds step 10
        if mode == "kill" and step == 2 and ranks.rank == 1:
            os._exit(7)

    ckpt = out / ("one.ckpt" if mode == "grow" else f"{mode}.ckpt")  # grow: resume a 1-process run
    res = sirenpde.fit(problem, model, steps=20, lr=1e-3, batch_size=BATCH, seed=SEED, progress=False,
                       checkpoint=ckpt, checkpoint_every=5, callback=stop)
    if ranks.is_writer:
        torch.save({"params": [p.detach() for p in res.model.parameters()], "history": res.history},
                   out / f"{mode}.pt")


def mode_mesh(out: Path, ranks: Ranks) -> None:
    """A small Siren meshed dense and sparse on every rank (the evaluations shared out)."""
    from sirenpde.meshing import extract_mesh

    model = sirenpde.Siren(3, 1, hidden_features=16, hidden_layers=1, first_omega_0=3.0, hidden_omega_0=3.0)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.5)
        model.output.bias.fill_(0.05)
    result = {}
    for method in ("dense", "sparse"):
        mesh = extract_mesh(model, ((-1, -1, -1), (1, 1, 1)), 40, method=method, batch_size=777, chunk_size=16,
                            progress=False)
        result[method] = {"vertices": torch.as_tensor(mesh.vertices), "faces": torch.as_tensor(mesh.faces),
                          "evaluations": int(mesh.metadata["evaluations"])}
    result["state"] = model.state_dict()
    if ranks.is_writer:
        torch.save(result, out / "mesh.pt")


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    ranks, _ = setup(True, "cpu")
    if mode == "grads":
        mode_grads(out, ranks)
    elif mode == "mesh":
        mode_mesh(out, ranks)
    else:
        mode_run(out, ranks, mode)


if __name__ == "__main__":
    try:
        main()
        status = 0
    except SystemExit as stop:  # mode "part" stops every rank this way
        status = stop.code if isinstance(stop.code, int) else 0
    from sirenpde.training.distributed import exit_process

    exit_process(status)
