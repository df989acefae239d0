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


def test_merge_writes_one_table_from_runs_made_side_by_side(tmp_path):
    rows_a = [{"task": "wave-1d-c", "variant": "auto", "seed": s, "steps": 5, "l2re": 0.5 + s, "wall_s": 1.0,
               "train_s": 1.0} for s in range(3)]
    rows_b = [{"task": "heat-2d-ms", "variant": "fixed", "seed": 0, "steps": 5, "l2re": 0.04, "wall_s": 2.0,
               "train_s": 2.0}]
    (tmp_path / "a.json").write_text(json.dumps(rows_a))
    (tmp_path / "b.json").write_text(json.dumps(rows_b))
    rows = pinnacle.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "m.md")])
    assert rows == rows_a + rows_b
    md = (tmp_path / "m.md").read_text()
    assert "| wave-1d-c | auto (gradnorm) | 3 | 1.5 | 0.5, 1.5, 2.5 |" in md  # the median of three seeds
    assert "| heat-2d-ms | fixed (none) | 1 | 0.04 |" in md and "Merged from a.json, b.json" in md
