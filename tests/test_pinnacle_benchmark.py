"""benchmarks/pinnacle.py: its tasks' closed forms solve their equations, and the script runs end to
end at smoke size and writes its table."""
from __future__ import annotations

import json
import math

import pytest
import torch

from _bench import load_benchmark

pinnacle = load_benchmark("pinnacle")


def _derivatives(fn, x):
    """u, grad u (n, d) and the diagonal second derivatives (n, d) of ``fn`` by autograd, float64."""
    x = x.clone().requires_grad_(True)
    u = fn(x)
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    d2 = torch.stack([torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(x.shape[1])], 1)
    return u, g, d2


def test_the_closed_forms_solve_their_equations_and_conditions():
    """Wave 1d-C: u_tt - 4 u_xx = 0, u = 0 at x = 0, 1, u_t = 0 at t = 0; Heat 2d-MS: u_t - u_xx /
    (500 pi)^2 - u_yy / pi^2 = 0 and zero on the edges; to float64 rounding (measured <= 3e-12)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=g, dtype=torch.float64)
    u, grad, d2 = _derivatives(pinnacle.wave_exact, x)
    assert (d2[:, 1] - 4 * d2[:, 0]).abs().max() < 1e-9 * d2.abs().max()
    edge = torch.stack([torch.tensor([0.0, 1.0], dtype=torch.float64).repeat(50), torch.rand(100, dtype=torch.float64)], 1)
    assert pinnacle.wave_exact(edge).abs().max() < 1e-12
    start = torch.stack([torch.rand(100, dtype=torch.float64), torch.zeros(100, dtype=torch.float64)], 1)
    assert _derivatives(pinnacle.wave_exact, start)[1][:, 1].abs().max() < 1e-12
    y = torch.rand(200, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 1.0, 5.0], dtype=torch.float64)
    u, grad, d2 = _derivatives(pinnacle.heat_exact, y)
    residual = grad[:, 2] - d2[:, 0] / (500 * math.pi) ** 2 - d2[:, 1] / math.pi**2
    assert residual.abs().max() < 1e-9 * grad[:, 2].abs().max()
    assert pinnacle.HEAT_DECAY == pytest.approx((20 * math.pi) ** 2 / (500 * math.pi) ** 2 + 1.0, rel=1e-15)


def test_smoke_run_writes_the_table(tmp_path):
    tasks = "wave-1d-c,heat-2d-ms"
    if (pinnacle.data_dir() / "pinnacle").is_dir():
        tasks += ",poisson-2d-c,poisson-2d-cg"
    rows = pinnacle.main(["--quick", "--tasks", tasks, "--out", str(tmp_path / "p.md")])
    assert {r["task"] for r in rows} == set(tasks.split(","))
    assert {r["variant"] for r in rows} == {"auto", "fixed"}
    assert all(math.isfinite(r["l2re"]) and r["l2re"] > 0 for r in rows)
    md = (tmp_path / "p.md").read_text()
    assert "smoke sizes" in md and md.count("| wave-1d-c |") == 2
    assert json.loads((tmp_path / "p.json").read_text()) == rows
