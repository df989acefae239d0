"""Distributed training (DDP, gloo, 2 CPU ranks under torchrun) against the single process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import sirenpde
from _dist_problems import CASES, Poisson2D

WORKER = Path(__file__).with_name("_dist_worker.py")
pytestmark = pytest.mark.slow


def torchrun(*args, timeout=240, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SIRENPDE_DIST_TIMEOUT": "60"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def grads(tmp_path_factory):
    out = tmp_path_factory.mktemp("grads")
    proc = torchrun(str(WORKER), "grads", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "grads.json").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_two_ranks_give_the_single_process_gradients_and_steps(grads, case):
    """float64: one step's gradients on 2 ranks equal the single process on the union batch to
    1e-10 (relative to the largest gradient), and so do the parameters after 5 Adam steps. Measured
    differences: 2e-16 to 5e-13 for the gradients, 3e-17 for the parameters."""
    r = grads[case]
    assert r["grad_diff"] <= 1e-10 * max(1.0, r["grad_scale"]), r
    assert r["param_diff"] <= 1e-10 and r["param_moved"] > 1e-3, r


@pytest.mark.parametrize("case", list(CASES))
def test_negative_control_derivatives_outside_the_wrapped_forward_are_caught(grads, case):
    """Calling the inner module instead of the DDP wrapper trains each rank on its own gradients:
    the same comparison then fails by a wide margin (measured 36% to 95% of the largest gradient)."""
    r = grads[case]
    assert r["negative_diff"] > 1e-2 * r["grad_scale"], r


def test_two_rank_checkpoint_resumes_on_one_rank(tmp_path):
    for mode in ("full", "part"):
        proc = torchrun(str(WORKER), mode, str(tmp_path))
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert sirenpde.training.checkpoints.saved_step(tmp_path / "part.ckpt") == 10
    assert sirenpde.training.checkpoints.saved_shards(tmp_path / "part.ckpt") == 2
    assert not (tmp_path / "part.pt").exists()  # the interrupted run never finished
    full = torch.load(tmp_path / "full.pt", weights_only=True)
    problem = Poisson2D()
    model = problem.make_model("siren", seed=1, hidden_features=16, hidden_layers=1).double()
    resumed = sirenpde.fit(problem, model, steps=20, lr=1e-3, batch_size=101, seed=5, progress=False,
                           checkpoint=tmp_path / "part.ckpt", checkpoint_every=5, distributed=False)
    # one process draws both ranks' sampling streams: the same union batches, so the same run
    diff = max(float((a.detach() - b).abs().max()) for a, b in zip(resumed.model.parameters(), full["params"]))
    assert diff <= 1e-10, diff
    assert resumed.history["total"] == pytest.approx(full["history"]["total"], rel=1e-10, abs=0)
    assert len(resumed.history["total"]) == 20


def test_a_dead_rank_does_not_hang_the_other(tmp_path):
    t0 = time.perf_counter()
    proc = torchrun(str(WORKER), "kill", str(tmp_path), timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode != 0
    assert elapsed < 90, elapsed
    assert not (tmp_path / "kill.pt").exists()  # no output from the failed run


def test_distributed_mesh_equals_the_single_process_mesh(tmp_path):
    from sirenpde.meshing import extract_mesh

    proc = torchrun(str(WORKER), "mesh", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = torch.load(tmp_path / "mesh.pt", weights_only=True)
    model = sirenpde.Siren(3, 1, hidden_features=16, hidden_layers=1, first_omega_0=3.0, hidden_omega_0=3.0)
    model.load_state_dict(got["state"])
    for method in ("dense", "sparse"):
        mesh = extract_mesh(model, ((-1, -1, -1), (1, 1, 1)), 40, method=method, batch_size=777, chunk_size=16,
                            progress=False)
        assert len(mesh.faces) > 1000
        assert torch.equal(got[method]["faces"], torch.as_tensor(mesh.faces))
        assert torch.equal(got[method]["vertices"], torch.as_tensor(mesh.vertices))
        assert got[method]["evaluations"] == mesh.metadata["evaluations"]


def test_one_process_checkpoint_resumes_on_two_ranks(tmp_path):
    """More ranks than the run started with: the saved stream continues on rank 0 and rank 1 gets
    a new one, so the run finishes (its later batches differ from the one-process run's)."""
    problem = Poisson2D()

    def model():
        return problem.make_model("siren", seed=1, hidden_features=16, hidden_layers=1).double()

    kw = dict(steps=20, lr=1e-3, batch_size=101, seed=5, progress=False, checkpoint_every=5, distributed=False)

    def stop(step, losses):
        if step == 11:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sirenpde.fit(problem, model(), checkpoint=tmp_path / "one.ckpt", callback=stop, **kw)
    single = sirenpde.fit(problem, model(), **{**kw, "checkpoint_every": None})
    proc = torchrun(str(WORKER), "grow", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    grown = torch.load(tmp_path / "grow.pt", weights_only=True)
    assert len(grown["history"]["total"]) == 20
    assert grown["history"]["total"][:10] == single.history["total"][:10]  # restored, not re-run
    assert sirenpde.training.checkpoints.saved_shards(tmp_path / "one.ckpt") == 2


def test_cli_solve_under_torchrun_writes_its_outputs_once(tmp_path):
    out = tmp_path / "run"
    proc = torchrun("-m", "sirenpde", "solve", "helmholtz-square", "--optimizer", "adam", "--steps", "20",
                    "--hidden-features", "32",
                    "--hidden-layers", "1", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote ") == 1, proc.stdout  # rank 0 alone reports and writes
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["steps"] == 20
    sol = sirenpde.load(out / "model.pt")
    assert sol.problem_name == "helmholtz-square"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.pt", "solution.h5", "solution.png"]


def test_cli_mesh_under_torchrun_equals_the_single_process_mesh(tmp_path):
    import trimesh

    from sirenpde.cli.main import main
    from sirenpde.shapes.model import ShapeModel
    from sirenpde.shapes.pointcloud import Normalization

    net = sirenpde.Siren(3, 1, hidden_features=16, hidden_layers=1, first_omega_0=3.0, hidden_omega_0=3.0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.5)
        net.output.bias.fill_(0.05)
    ShapeModel(net, Normalization(torch.zeros(3).numpy(), 2.0)).save(tmp_path / "shape.pt")
    proc = torchrun("-m", "sirenpde", "mesh", str(tmp_path / "shape.pt"), "-o", str(tmp_path / "two.ply"),
                    "--resolution", "48", "--no-preview", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote ") == 1, proc.stdout
    assert main(["mesh", str(tmp_path / "shape.pt"), "-o", str(tmp_path / "one.ply"), "--resolution", "48",
                 "--no-preview", "--no-progress"]) == 0
    one, two = (trimesh.load(tmp_path / f"{n}.ply", process=False) for n in ("one", "two"))
    assert len(one.faces) > 1000
    assert (one.vertices == two.vertices).all() and (one.faces == two.faces).all()


def test_gauss_newton_on_two_ranks_equals_the_single_process(tmp_path):
    """Each rank builds the rows of its own points, the rows are gathered and every rank takes rank
    0's step: 5 steps on 2 ranks equal the single process's Levenberg-Marquardt on the union batch
    (measured: parameters to 3e-14, from rows in another order; the loss falls 103 -> 1.0); a run stopped inside the phase
    (after step 5, checkpoint at step 3, half way through the points drawn at step 2) resumes in one
    process,
    which joins the two ranks' points, and ends as the 2-rank run did."""
    proc = torchrun(str(WORKER), "gn", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "gn.json").read_text())
    assert report["param_diff"] <= 1e-10 and report["param_moved"] > 1e-3, report
    assert report["loss_dist"] == pytest.approx(report["loss_single"], rel=1e-9)
    assert report["loss_dist"][-1] < 0.6 * report["loss_dist"][0]  # the steps were taken, not refused
    full = torch.load(tmp_path / "gn.pt", weights_only=True)
    part_dir = tmp_path / "part"
    part_dir.mkdir()
    proc = torchrun(str(WORKER), "gn-part", str(part_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sirenpde.training.checkpoints.saved_step(part_dir / "gn.ckpt") == 3
    problem = Poisson2D()
    model = problem.make_model("siren", seed=1, hidden_features=16, hidden_layers=1, first_omega_0=3.0,
                               hidden_omega_0=1.0).double()
    resumed = sirenpde.fit(problem, model, optimizer="gauss-newton", steps=6, gn_batch_size=101, gn_refresh=2, seed=5,
                           progress=False, checkpoint=part_dir / "gn.ckpt", checkpoint_every=3, distributed=False,
                           optimizer_options={"lam": 1.0})
    diff = max(float((a.detach() - b).abs().max()) for a, b in zip(resumed.model.parameters(), full["params"]))
    assert diff <= 1e-10, diff
    assert resumed.history["total"] == pytest.approx(full["history"]["total"], rel=1e-9, abs=0)
