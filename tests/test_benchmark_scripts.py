"""Smoke runs of benchmarks/sdf.py and benchmarks/pde.py at their smallest settings: the scripts
run end to end and write a table with a row for every method and problem."""
from __future__ import annotations

import pytest
from _bench import DATA, load_benchmark as _load



@pytest.mark.skipif(not (DATA / "bunny_50k.xyz").exists(), reason="needs ../shared/data (the bunny)")
def test_sdf_benchmark_smoke(tmp_path):
    sdf = _load("sdf")
    out = tmp_path / "sdf.md"
    sdf.main(["--quick", "--cases", "noisy-5k", "--steps", "5", "--resolution", "32", "--batch-size", "500",
              "--hidden-features", "16", "--hidden-layers", "1", "--no-engines", "--no-progress",
              "--out", str(out), "--threads", "1"])
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| noisy-5k |")]
    assert len(rows) == 4, text  # Poisson, the fast and default levels, the default with noise='clean'
    assert "screened Poisson" in rows[0]
    assert "SIREN (fast, 2x16, 5 steps, 32^3, picked noisy" in rows[1] and "SIREN (default, 2x16" in rows[2]
    assert "noise='clean'" in rows[3] and "vs Poisson" in text
    assert "Machine:" in text and "python benchmarks/sdf.py" in text


@pytest.mark.skipif(not (DATA / "fandisk.obj").exists(), reason="needs ../shared/data (fandisk)")
def test_sdf_benchmark_builds_the_fandisk_inputs():
    sdf = _load("sdf")
    reference, inputs = sdf.build_inputs(DATA, 0, 0.005, 0.1, shape="fandisk")
    assert {k: len(c) for k, c in inputs.items()} == {k: n for k, (n, _) in sdf.CASES.items()}
    # The noisy clouds are the clean ones plus noise of 0.5% of the box's longest side.
    side = float((reference.bounds[1] - reference.bounds[0]).max())
    offset = inputs["noisy-50k"].points - inputs["clean-50k"].points
    assert abs(offset.std() / side - 0.005) < 2e-4
    with pytest.raises(ValueError, match="unknown shape 'teapot'"):
        sdf.build_inputs(DATA, 0, 0.005, 0.1, shape="teapot")


def test_pde_benchmark_smoke(tmp_path):
    pde = _load("pde")
    out = tmp_path / "pde.md"
    pde.main(["--quick", "--only", "helmholtz-square,wave", "--threads", "1", "--out", str(out)])
    text = out.read_text()
    for name in ("helmholtz-square", "wave"):
        assert any(line.startswith(f"| {name} |") for line in text.splitlines()), text
    assert "--quick" in text


def test_derivatives_benchmark_smoke(tmp_path):
    # tiny sizes: every engine's row is written and agrees with nested autograd
    derivatives = _load("derivatives")
    out = tmp_path / "derivatives.md"
    import time  # local: the import block is being reorganised elsewhere

    t0 = time.perf_counter()
    rows = derivatives.main(["--points", "64", "--repeats", "1", "--out", str(out)])
    wall = time.perf_counter() - t0
    assert [(r["dim"], r["loss on"]) for r in rows] == [(2, "gradient"), (2, "laplacian"), (3, "gradient"),
                                                      (3, "laplacian")]
    for r in rows:
        engines = ("jet", "reverse") if r["loss on"] == "gradient" else ("jet",)
        assert all(r[e + "_grad_rel_diff"] < 1e-4 for e in engines), r
        # a speedup is the ratio of two step times each measured inside this call
        for e in engines + ("autograd",):
            assert 0 < r[e + "_s"] < wall, (e, r)
        for e in engines:
            assert r[e + "_speedup"] == pytest.approx(r["autograd_s"] / r[e + "_s"], rel=1e-12), r
    assert not any(k.startswith("reverse") for k in rows[1]) and out.read_text().count("| reverse |") == 2


def test_accuracy_benchmark_smoke_and_merge(tmp_path):
    """benchmarks/accuracy.py at smoke sizes: every variant of two cases trains, is scored, has a
    curve and a table row; the figure is written; --merge rebuilds the same table from the .json."""
    accuracy = _load("accuracy")
    out = tmp_path / "acc.md"
    rows = accuracy.main(["--quick", "--cases", "helmholtz-square,poisson-sine", "--out", str(out)])
    assert [(r["case"], r["variant"]) for r in rows] == [(c, v) for c in ("helmholtz-square", "poisson-sine")
                                                         for v in accuracy.VARIANTS]
    for r in rows:
        assert r["curve"] and 0 < r["error"] < 10 and r["steps"] >= 4
        assert r["dtype"] == ("float64" if r["variant"] == "gauss-newton" else "float32")
    text = out.read_text()
    table = [line for line in text.splitlines() if line.startswith("| helmholtz-square |")]
    assert len(table) == 3 and "8,577 parameters, float64" in table[2] and "68,551 parameters" in table[0]
    assert out.with_suffix(".png").stat().st_size > 1000
    merged = tmp_path / "merged.md"
    accuracy.main(["--merge", str(out.with_suffix(".json")), "--out", str(merged)])
    assert [line for line in merged.read_text().splitlines() if line.startswith("| ")] == \
        [line for line in text.splitlines() if line.startswith("| ")]


def test_accuracy_poisson_sine_residual_vanishes_on_its_closed_form():
    import math

    import torch

    from sirenpde.fields import field
    accuracy = _load("accuracy")
    problem, score = accuracy.poisson_sine()

    class Exact(torch.nn.Module):
        in_features, out_features = 2, 1

        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))  # evaluated in float64

        def forward(self, x):
            return accuracy.sine_exact(x)

    exact = Exact()
    x = torch.rand(200, 2, dtype=torch.float64)
    u = field(exact, x, order=2, engine="autograd")
    pde = problem.constraints()[0]
    assert pde.residual(u, {"x": x}).abs().max() < 1e-11
    assert score(exact) < 1e-15

    class Zero(Exact):
        def forward(self, x):
            return 0 * x[:, :1]

    assert score(Zero()) == 1.0  # the score is relative: no field scores 1

    class Negated(Exact):
        def forward(self, x):
            return -accuracy.sine_exact(x)

    # the negated field leaves a residual of 4 pi^2 u (~39 at the centre): the check above can fail
    assert float(pde.residual(field(Negated(), x, order=2, engine="autograd"), {"x": x}).detach().abs().max()) > math.pi ** 2


def test_jacobian_benchmark_smoke(tmp_path):
    jacobian = _load("jacobian")
    rows = jacobian.main(["--quick", "--out", str(tmp_path / "j.md")])
    assert len(rows) == 1 and rows[0]["N"] == 256 + 32 and rows[0]["P"] == 8577
    assert rows[0]["max_rel_difference"] < 1e-10  # the two builds agree
    assert "| 288 | 8,577 |" in (tmp_path / "j.md").read_text()


def test_upscale_benchmark_smoke(tmp_path):
    import json

    upscale = _load("upscale")
    result = upscale.main(["--quick", "--images", "camera", "astronaut", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "upscale.json").read_text())["rows"]
    assert [(r["image"], r["method"]) for r in rows] == [
        (name, m) for name in ("camera", "astronaut") for m in ("bicubic", "bilinear", "siren w0=30", "siren w0=1.875")]
    assert all(r["size"] == [32, 32] and r["low"] == [16, 16] for r in rows)
    assert [r["colour"] for r in rows] == [False] * 4 + [True] * 4
    # the interpolations are scored against the original they never saw, as the SIREN renders are
    original = result["pictures"][("astronaut", "original")]
    low = result["pictures"][("astronaut", "low")]
    cubic = upscale.interpolate(low, original.shape[:2], 3)
    assert rows[4]["psnr"] == pytest.approx(upscale.psnr(cubic, original))
    assert result["pictures"][("astronaut", "siren w0=30")].shape == (32, 32, 3)
    text = (tmp_path / "upscale.md").read_text()
    assert text.count("| astronaut (RGB) | 16x16 |") == 4 and (tmp_path / "upscale.png").is_file()
