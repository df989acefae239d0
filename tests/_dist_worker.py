"""Run under ``torchrun --nproc_per_node 2`` (gloo): distributed training against the single process.

``python -m torch.distributed.run --standalone --nproc_per_node 2 tests/_dist_worker.py MODE OUT``

- ``grads``: for each case, one step's parameter gradients on 2 ranks against the single process
  on the union of the ranks' batches, a negative control that takes the derivatives outside the
  wrapped forward, and the parameters after 5 Adam steps (``fit(distributed=True)``) against the
  single-process loop on the union batches. Rank 0 writes ``OUT/grads.json``.
- ``full`` / ``part``: a 20-step run with a checkpoint, uninterrupted / stopped after step 12
  (its last checkpoint holds step 10). Rank 0 saves the final weights to ``OUT/MODE.pt``.
- ``kill``: rank 1 dies at step 3; the other rank must not hang.
- ``gn`` / ``gn-part``: Gauss-Newton on 2 ranks (see :func:`mode_gn`).
- ``registry``: every registered problem and family (``_dist_problems.registry_cases``) trained
  for a few Adam steps by ``fit``/``fit_family`` on 2 ranks, against the single-process loop on
  the union batches (each rank computes half of the references). Rank 0 writes
  ``OUT/registry.json``, then runs the defect's negative control (poisson-gradient in DDP without
  freezing its unreachable output bias) and writes ``OUT/control.json``.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dist_problems import (CASES, Poisson2D, counts_of, fit_case, fit_registry_case,  # noqa: E402
                            loss_class_of, make_case, make_registry_case, registry_cases)

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


REGISTRY_STEPS, REGISTRY_LR = 3, 1e-3


def union_fit(problem, model, counts, loss_class, steps, shards, lr, seed=SEED):
    """The single process on the union of ``shards`` shards' batches: a plain Adam loop over every
    parameter, nothing frozen (a parameter without a gradient is skipped by Adam), so it shows what
    the freezing in the session must reproduce rather than reusing it."""
    cons = problem.constraints()
    sharding = Sharding(Ranks(), shards)
    gens = sharding.generators(seed)
    loss = loss_class(model, cons, "auto")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        batches, scales = sharding.sample(cons, counts, gens, problem.coefficients(step, steps))
        opt.zero_grad(set_to_none=True)
        loss.total(loss(to_device(batches, torch.device("cpu"), torch.float64), scales)).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def mode_registry(out: Path, ranks: Ranks) -> None:
    from torch import distributed as dist

    from sirenpde.training.loss import UnreachableParameterWarning

    mine = {}
    for i, case in enumerate(registry_cases()):
        problem, model, counts, loss_class = make_registry_case(case)
        names = [name for name, _ in model.named_parameters()]
        init = [p.detach().clone() for p in model.parameters()]
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnreachableParameterWarning)
            res = fit_registry_case(case, problem, copy.deepcopy(model), REGISTRY_STEPS, REGISTRY_LR, SEED,
                                    distributed=True)
        row = {f"dist_s_{ranks.rank}": time.perf_counter() - t0,
               f"warnings_{ranks.rank}": [str(w.message) for w in caught
                                          if issubclass(w.category, UnreachableParameterWarning)]}
        got = [p.detach() for p in res.model.parameters()]
        if i % ranks.world == ranks.rank:  # the ranks share the single-process references out
            t0 = time.perf_counter()
            ref = union_fit(problem, copy.deepcopy(model), counts, loss_class, REGISTRY_STEPS, ranks.world,
                            REGISTRY_LR)
            row.update(ref_s=time.perf_counter() - t0, param_diff=max_diff(got, ref),
                       param_moved=max_diff(ref, init),
                       unchanged=[n for n, a, b in zip(names, got, init) if torch.equal(a, b)],
                       requires_grad=all(p.requires_grad for p in res.model.parameters()))
        mine[case] = row
    everyone: list = [None] * ranks.world
    dist.all_gather_object(everyone, mine)
    if ranks.is_writer:
        report = {case: {k: v for part in everyone for k, v in part[case].items()} for case in mine}
        (out / "registry.json").write_text(json.dumps(report, indent=1))
    control_without_freezing(out, ranks)


def control_without_freezing(out: Path, ranks: Ranks) -> None:
    """The defect: poisson-gradient's loss in DDP with every parameter trainable, as before the
    session froze the output bias. DDP raises on the second step; last in the launch, so whatever
    state the failure leaves cannot touch the cases."""
    problem, model, counts, loss_class = make_registry_case("problem:poisson-gradient")
    cons = problem.constraints()
    sharding = Sharding(ranks, ranks.world)
    gens = sharding.generators(SEED)
    ddp = wrap(loss_class(model, cons, "auto"), ranks, torch.device("cpu"))
    error = None
    try:
        for _ in range(2):
            batches, scales = sharding.sample(cons, counts, gens, {})
            ddp.module.total(ddp(to_device(batches, torch.device("cpu"), torch.float64), scales)).backward()
    except RuntimeError as err:  # what the control expects; the test reads the message
        error = str(err)
    if ranks.is_writer:
        (out / "control.json").write_text(json.dumps({"error": error}))


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


def mode_gn(out: Path, ranks: Ranks, mode: str) -> None:
    """Gauss-Newton on 2 ranks. ``gn``: 5 steps of a whole Gauss-Newton run against the single
    process's Levenberg-Marquardt steps on the union batch (rank 0 writes ``OUT/gn.json``), then
    a 6-step run with new points every 2 steps and a checkpoint every 3 (``OUT/gn.pt``, checkpoint
    ``OUT/gn.ckpt``).
    ``gn-part``: the same run stopped after step 5 (its checkpoint holds step 3, half way through
    the second points, drawn at step 2)."""
    from sirenpde.training import gauss_newton as gn
    from sirenpde.training.loss import ConstraintLoss

    problem = Poisson2D()
    # gentle sines and a damping of 1 to start: most steps are accepted (the default w0 = 30 and
    # 1e-3 reject all but the first few here)
    model = problem.make_model("siren", seed=1, hidden_features=16, hidden_layers=1, first_omega_0=3.0,
                               hidden_omega_0=1.0).double()
    if mode == "gn":
        res = sirenpde.fit(problem, copy.deepcopy(model), optimizer="gauss-newton", steps=5, gn_batch_size=BATCH,
                           seed=SEED, progress=False, optimizer_options={"lam": 1.0})
        if ranks.is_writer:
            sharding = Sharding(Ranks(), ranks.world)  # one process drawing both ranks' streams
            batches, _ = sharding.sample(problem.constraints(), counts_of(problem, BATCH), sharding.generators(SEED), {})
            ref = copy.deepcopy(model)
            loss = ConstraintLoss(ref, problem.constraints(), "auto")
            history, _ = gn.levenberg_marquardt(loss, to_device(batches, torch.device("cpu"), torch.float64), steps=5,
                                                lam0=1.0)
            init = [p.detach() for p in model.parameters()]
            (out / "gn.json").write_text(json.dumps({
                "param_diff": max_diff(list(res.model.parameters()), list(ref.parameters())),
                "param_moved": max_diff(list(ref.parameters()), init),
                "loss_dist": res.history["total"], "loss_single": history[1:]}))

    def stop(step, losses):
        if mode == "gn-part" and step == 4:
            raise SystemExit(0)  # after step 5; the checkpoint holds step 3

    res = sirenpde.fit(problem, copy.deepcopy(model), optimizer="gauss-newton", steps=6, gn_batch_size=BATCH,
                       gn_refresh=2, seed=SEED, progress=False, checkpoint=out / "gn.ckpt", checkpoint_every=3,
                       callback=stop, optimizer_options={"lam": 1.0})
    if ranks.is_writer:
        torch.save({"params": [p.detach() for p in res.model.parameters()], "history": res.history},
                   out / f"{mode}.pt")


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    ranks, _ = setup(True, "cpu")
    if mode == "grads":
        mode_grads(out, ranks)
    elif mode == "mesh":
        mode_mesh(out, ranks)
    elif mode == "registry":
        mode_registry(out, ranks)
    elif mode in ("gn", "gn-part"):
        mode_gn(out, ranks, mode)
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
