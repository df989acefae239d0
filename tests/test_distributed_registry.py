"""Every registered problem and family trains under 2 gloo ranks (torchrun) as in one process.

The cases are read from the registries (``sirenpde.problems.PROBLEMS`` and, for
``fit_family``, ``sirenpde.hyper.FAMILIES`` under every conditioning in ``CONDITIONINGS``), so a
new registration is checked without touching this file, plus two user ``sp.PDE`` problems (a plate
with holes; heat with a hard initial value and a Neumann wall); ``tests/_dist_problems.py`` holds the small
options of the problems that need them. All cases share one torchrun launch (a launch costs
several seconds). Measured on 2 CPU cores shared with other jobs: the launch 9-20 s, the CLI
run 15-40 s (its 10 L-BFGS steps on a 3x256 Siren dominate).
"""
from __future__ import annotations

import json

import pytest

from _dist_problems import registry_cases
from test_distributed import WORKER, torchrun

pytestmark = pytest.mark.slow

# the problems whose loss reads only derivatives of u: the output bias reaches no loss term
DERIVATIVES_ONLY = {"problem:poisson-gradient", "problem:poisson-laplacian", "problem:gradient-composite"}
FROZEN_MESSAGE = ("1 parameter gets no gradient from any loss term and is frozen at the initial value: "
                  "output.bias")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    out = tmp_path_factory.mktemp("registry")
    proc = torchrun(str(WORKER), "registry", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "registry.json").read_text()), json.loads((out / "control.json").read_text())


def test_the_launch_covers_every_registered_problem_and_family(registry):
    cases = registry_cases()
    assert {"problem:poisson-gradient", "problem:sdf", "family:poisson-family:full", "pde:plate", "pde:heat-hard"} <= set(cases)
    assert sorted(registry[0]) == sorted(cases)


@pytest.mark.parametrize("case", registry_cases())
def test_two_ranks_equal_the_single_process_on_the_union_batch(registry, case):
    """float64, 3 Adam steps at lr 1e-3 through ``fit``/``fit_family`` on 2 ranks, against a plain
    Adam loop in one process on the union of both ranks' batches (which freezes nothing: a
    parameter without a gradient is simply skipped). Parameters agree to 1e-10; measured 3e-18 to
    9e-16 for the problems and up to 3e-14 for the hypernetwork (``full``), while every parameter
    moved by about 3e-3. The parameters left exactly at their initial values are the ones the run
    named as frozen, and only rank 0 named them."""
    r = registry[0][case]
    assert r["param_diff"] <= 1e-10 and r["param_moved"] > 1e-3, r
    assert r["warnings_1"] == [], r  # rank 0 alone reports
    frozen = [] if not r["warnings_0"] else r["warnings_0"][0].rpartition(": ")[2].split(", ")
    assert len(r["warnings_0"]) <= 1, r
    assert r["unchanged"] == frozen, r
    assert r["requires_grad"], r  # the frozen parameters are trainable again once fit returns
    if case in DERIVATIVES_ONLY:
        assert r["warnings_0"] == [f"{case.partition(':')[2]}: {FROZEN_MESSAGE}"], r


def test_negative_control_ddp_refuses_the_unreachable_bias_without_freezing(registry):
    """The defect of issue #20, reproduced in the same launch: poisson-gradient's loss module in
    DDP with the output bias trainable fails on its second step."""
    error = registry[1]["error"]
    assert error is not None and "Expected to have finished reduction in the prior iteration" in error


def test_cli_solve_poisson_gradient_under_torchrun(tmp_path):
    """The command of the issue (10 Adam steps, then the problem's 10 L-BFGS steps on every pixel):
    it finishes, writes its outputs once, and the frozen bias is reported once, by rank 0."""
    out = tmp_path / "run"
    proc = torchrun("-m", "sirenpde", "solve", "poisson-gradient", "-O", "size=32", "--steps", "10",
                    "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("gets no gradient from any loss term") == 1, proc.stderr[-3000:]
    assert f"poisson-gradient: {FROZEN_MESSAGE}" in proc.stderr
    assert proc.stdout.count("wrote ") == 1, proc.stdout
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["steps"] == 20
