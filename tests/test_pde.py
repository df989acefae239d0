"""sirenpde.PDE: the generic problem front door, its defaults, saving, the command line and refusals."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
import torch

import sirenpde as sp
from sirenpde.geometry import Disk, Interval, Rectangle
from sirenpde.io.solution import save_model

USER_FILE = str(Path(__file__).resolve().parent / "_pde_file.py")
TINY = ["--steps", "3", "--batch-size", "64", "--hidden-features", "8", "--hidden-layers", "1", "-q"]


def plate_with_holes():
    square = Rectangle([-0.5, -0.5], [0.5, 0.5])
    holes = Disk([0.3, 0.3], 0.1) | Disk([-0.3, 0.3], 0.1) | Disk([0.3, -0.3], 0.1) | Disk([-0.3, -0.3], 0.1)
    return square, holes


def test_readme_example_runs_as_written():
    """The issue's example (PINNacle Poisson 2d-C), as in the README, for a few steps."""
    square, holes = plate_with_holes()
    problem = sp.PDE(square - holes, lambda u: u.laplacian,
                     conditions=[sp.Dirichlet(square.boundary, 1.0), sp.Dirichlet(holes.boundary, 0.0)])
    result = sp.fit(problem, problem.make_model("siren"), steps=5, progress=False)
    assert problem.order == 2 and problem.second == "laplacian"
    assert [c.name for c in problem.constraints()] == ["pde", "dirichlet-1", "dirichlet-2"]
    assert all(math.isfinite(v[-1]) for v in result.history.values())
    assert problem.default_balance == "gradnorm" and problem.default_schedule == "cosine"
    assert problem.model_kwargs["siren"]["first_omega_0"] == pytest.approx(20.0)  # 10 / half-width 0.5


def test_residual_signatures_parameters_and_systems():
    square = Rectangle([0, 0], [1, 1])
    p = sp.PDE(square, lambda u, x, k: u.laplacian + k ** 2 * u.value - x[:, :1], parameters={"k": 2.0})
    assert p._pass_x and p.order == 2 and p.second == "laplacian"
    q = sp.PDE(square, lambda u: (u.grad[:, 0, 0] - u.value[:, 1], u.grad[:, 1, 1] + u.value[:, 0]),
               out_features=2)
    assert (q.order, q.out_features) == (1, 2)
    h = sp.PDE(square, lambda u: u.hessian[:, 0, 1])
    assert (h.order, h.second) == (2, "hessian")
    z = sp.PDE(square, lambda u: u.value - 1)
    assert z.order == 0
    forced = sp.PDE(square, lambda u: u.value - 1, order=2, second="diagonal")
    assert (forced.order, forced.second) == (2, "diagonal")
    # a system: the residual (n, 2) stacked; the loss reads both columns
    con = q.constraints()[0]
    batch = con.sample(16, torch.Generator().manual_seed(0))
    model = q.make_model(seed=0)
    u = sp.field(model, batch["x"], order=1)
    assert con.residual(u, batch).shape == (16, 2)


def test_refused_before_any_training():
    square = Rectangle([0, 0], [1, 1])
    with pytest.raises(ValueError, match=r"expected shape \(8,\) or \(8, k\).*got \(1,\)"):
        sp.PDE(square, lambda u: u.laplacian.sum().reshape(1))
    with pytest.raises(ValueError, match="calling the residual.*failed"):
        sp.PDE(square, lambda u: u.laplacian @ torch.ones(3, 3))
    with pytest.raises(ValueError, match="parameter 'c' is not an argument"):
        sp.PDE(square, lambda u, k: u.laplacian, parameters={"k": 1.0, "c": 2.0})
    with pytest.raises(ValueError, match="domain must be a sirenpde.geometry"):
        sp.PDE(sp.Box([0], [1]), lambda u: u.laplacian)
    with pytest.raises(ValueError, match="conditions\\[0\\] must be a condition"):
        sp.PDE(square, lambda u: u.laplacian, conditions=["u=0"])
    with pytest.raises(ValueError, match="two loss terms are named 'wall'"):
        sp.PDE(square, lambda u: u.laplacian, conditions=[sp.Dirichlet(square.boundary, 0.0, name="wall"),
                                                          sp.Neumann(square.boundary, 0.0, name="wall")])


def test_identity_follows_functions_and_geometry():
    square = Rectangle([0, 0], [1, 1])

    def build(residual, value=0.0, domain=square):
        return sp.PDE(domain, residual, conditions=[sp.Dirichlet(domain.boundary, value)]).identity()

    a = build(lambda u: u.laplacian)
    assert a == build(lambda u: u.laplacian)
    assert a != build(lambda u: u.laplacian + 1)  # another lambda with the same name
    assert a != build(lambda u: u.laplacian, value=1.0)
    assert a != build(lambda u: u.laplacian, domain=Rectangle([0, 0], [1, 2]))
    k = 1.0
    b = build(lambda u: u.laplacian + k)
    k = 2.0
    assert b != build(lambda u: u.laplacian + k)  # a captured constant is part of the function


def _annulus_problem(hard: bool):
    outer, hole = Disk([0, 0], 1.0), Disk([0, 0], 0.25)
    exact = lambda x: torch.log(x.square().sum(dim=1).sqrt()) / math.log(0.25)  # noqa: E731
    return sp.PDE(outer - hole, lambda u: u.laplacian, reference=exact,
                  conditions=[sp.Dirichlet(outer.boundary, 0.0, hard=hard), sp.Dirichlet(hole.boundary, 1.0, hard=hard)])


@pytest.mark.slow
def test_laplace_on_an_annulus_is_solved(one_thread):
    """u = log r / log(1/4): 1 on the hole (r = 1/4), 0 on the outer circle. With the package's
    defaults (gradnorm balance, cosine schedule, 3x64 Siren) and 800 steps. Measured on one CPU
    thread of an idle machine: rel L2 2.6e-4 after 1000 steps in 30 s (soft conditions; hard ones
    5.9e-5 in 62 s); the bound leaves a factor ~10. No wall-time assertion: this machine is shared."""
    problem = _annulus_problem(hard=False)
    t0 = time.perf_counter()
    result = sp.fit(problem, problem.make_model(seed=0), steps=800, progress=False)
    assert result.metrics["rel_l2"] < 3e-3, result.metrics
    print(f"annulus: rel L2 {result.metrics['rel_l2']:.2e} in {time.perf_counter() - t0:.0f} s")


def test_hard_pde_saves_and_loads(tmp_path):
    problem = _annulus_problem(hard=True)
    result = sp.fit(problem, problem.make_model(seed=0), steps=3, batch_size=64, progress=False)
    path = save_model(tmp_path / "model.pt", result.model, problem.name, {}, "siren", {}, result.metrics)
    with pytest.raises(ValueError, match="pde"):
        sp.load(path)  # a problem built in Python is not rebuilt by name
    sol = sp.load(path, problem=problem)
    x = problem.domain.sample_interior(32, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(sol(x), result.model(x))
    assert sol.problem is problem


def test_soft_pde_model_loads_without_its_problem(tmp_path):
    square = Rectangle([0, 0], [1, 1])
    problem = sp.PDE(square, lambda u: u.laplacian, conditions=[sp.Dirichlet(square.boundary, 1.0)])
    result = sp.fit(problem, problem.make_model(seed=0), steps=2, batch_size=32, progress=False)
    path = save_model(tmp_path / "model.pt", result.model, problem.name, {}, "siren", {}, result.metrics)
    sol = sp.load(path)
    assert sol(torch.zeros(3, 2)).shape == (3, 1)


def test_time_domain_defaults_and_fit():
    td = Interval(0, 1).over(0, 2)
    p = sp.PDE(td, lambda u: u.grad[:, 1] - 0.1 * u.d2(0)[:, 0],
               conditions=[sp.Initial(lambda x: torch.sin(math.pi * x[:, 0]), hard=True),
                           sp.Dirichlet(td.boundary, 0.0)])
    assert p.model_kwargs["siren"]["first_omega_0"] == pytest.approx(10.0)  # largest half-extent 1
    result = sp.fit(p, p.make_model(seed=0), steps=3, batch_size=64, progress=False)
    assert set(result.history) >= {"pde", "dirichlet"}


def test_solve_a_problem_from_a_file(tmp_path):
    from sirenpde.cli.main import main

    out = tmp_path / "run"
    assert main(["solve", f"{USER_FILE}:problem", *TINY, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.pt", "solution.h5", "solution.png"]
    sol = sp.load(out / "model.pt")
    assert sol.problem_name == f"{USER_FILE}:problem" and "rel_l2" in sol.metrics
    # a function with -O options, a hard condition: the wrapped model is rebuilt from the file
    out2 = tmp_path / "hard"
    assert main(["solve", f"{USER_FILE}:hard", "-O", "value=2.0", *TINY, "--out", str(out2)]) == 0
    sol = sp.load(out2 / "model.pt")
    x, _ = sol.problem.domain.sample_boundary(16, torch.Generator().manual_seed(0))
    assert torch.allclose(sol(x), torch.full((16, 1), 2.0), atol=1e-5)


@pytest.mark.parametrize("spec, options, message", [
    ("{dir}/nothere.py:problem", {}, "file not found"),
    ("{file}:missing", {}, "has no 'missing'; its problems: problem"),
    ("{file}:not_a_problem", {}, "is a int, not a Problem"),
    ("{file}:not_returning_a_problem", {}, "returned a str, not a Problem"),
    ("{file}:problem", {"k": 1}, "takes no -O options"),
    ("{file}:hard", {"colour": 1}, "does not take the options"),
])
def test_file_specs_refused(spec, options, message):
    from sirenpde.problem_file import load_problem_file

    text = spec.format(file=USER_FILE, dir=os.path.dirname(USER_FILE))
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_problem_file(text, options)


def test_a_residual_that_broadcasts_to_points_by_points_is_refused():
    """u.grad[:, 1] is (n,) and u.d2(0) is (n, 1): their difference is (n, n), which once passed as
    an n-component system and trained a heat problem to nothing (L2RE 0.43); now refused."""
    import sirenpde as sp
    from sirenpde.geometry import Interval

    domain = Interval(0.0, 1.0).over(0.0, 1.0)
    with pytest.raises(ValueError, match=r"as many columns as there are points .* u.grad\[:, i:i \+ 1\]"):
        sp.PDE(domain, lambda u: u.grad[:, 1] - u.d2(0))
    fine = sp.PDE(domain, lambda u: u.grad[:, 1:2] - u.d2(0))
    assert fine.order == 2


def test_a_file_problem_checkpoints_resumes_and_evaluates(tmp_path):
    """A user's PDE keeps every feature of a built-in problem: the same command with `--checkpoint`
    resumes its finished run (its functions identified by their code: same weights, no new
    steps), and `sirenpde eval` reads its model.pt (values equal `sirenpde.load`'s to rounding)."""
    import h5py
    import numpy as np

    from sirenpde.cli.main import main
    from sirenpde.training.checkpoints import saved_step

    ckpt = tmp_path / "run.ckpt"
    argv = ["solve", f"{USER_FILE}:problem", "--steps", "4", "--hidden-features", "8", "--hidden-layers", "1",
            "--lbfgs-steps", "0", "-q", "--checkpoint", str(ckpt)]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert saved_step(ckpt) == 4
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0  # resumed at its end
    assert saved_step(ckpt) == 4
    first, again = (sp.load(tmp_path / d / "model.pt").model.state_dict() for d in ("a", "b"))
    assert all(torch.equal(first[k], again[k]) for k in first)
    # another problem from the same file is another run: refused, not resumed
    other = [f"{USER_FILE}:hard" if a.endswith(":problem") else a for a in argv]
    assert main([*other, "--out", str(tmp_path / "c")]) == 2
    pts = np.random.default_rng(0).uniform(0, 1, (50, 2)).astype(np.float32)
    np.save(tmp_path / "pts.npy", pts)
    assert main(["eval", str(tmp_path / "b" / "model.pt"), "--points", str(tmp_path / "pts.npy"),
                 "--out", str(tmp_path / "v.h5")]) == 0
    with h5py.File(tmp_path / "v.h5") as f:
        np.testing.assert_allclose(f["value"][:], sp.load(tmp_path / "b" / "model.pt")(pts), rtol=1e-6, atol=1e-7)
