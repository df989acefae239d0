"""``sirenpde family train`` and ``sirenpde family predict`` at tiny sizes."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from sirenpde.cli.main import main
from sirenpde.hyper import FAMILIES


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("fam")
    rc = main(["family", "train", "poisson-family", "--out", str(out), "--steps", "4", "--instances", "2",
               "--points", "16", "--members", "5", "--device", "cpu", "-q"])
    assert rc == 0
    return out


@pytest.mark.parametrize("mode", ["full", "concat"])
def test_train_writes_model_table_and_figure(tmp_path, mode, capsys):
    rc = main(["family", "train", "poisson-family", "--out", str(tmp_path), "--conditioning", mode, "--steps", "2",
               "--instances", "2", "--points", "8", "--members", "4", "--device", "cpu", "-q"])
    assert rc == 0
    meta = json.loads((tmp_path / "metrics.json").read_text())
    assert meta["conditioning"] == mode and meta["config"]["mode"] == mode
    assert "median" in capsys.readouterr().out


def test_train_outputs(trained):
    from sirenpde.hyper.files import load_family

    meta = json.loads((trained / "metrics.json").read_text())
    rows = meta["held_out"]["members"]
    assert len(rows) == 5 and set(rows[0]) == {"cx", "cy", "width", "rel_l2"}
    errs = [r["rel_l2"] for r in rows]
    assert meta["held_out"]["median"] == pytest.approx(float(np.median(errs)))
    assert meta["held_out"]["p90"] == pytest.approx(float(np.percentile(errs, 90)))
    assert meta["steps"] == 4 and meta["ranges"]["width"] == [0.1, 0.25]
    assert (trained / "family.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = load_family(trained / "family.pt")
    assert loaded.metrics["median"] == pytest.approx(meta["held_out"]["median"])
    assert not list(trained.glob("*.tmp*"))  # atomic writes leave nothing behind


def test_predict_writes_what_solve_writes_and_a_loadable_model(trained, tmp_path, capsys):
    from sirenpde.hyper.files import load_family
    from sirenpde.io.solution import load

    out = tmp_path / "member"
    rc = main(["family", "predict", str(trained / "family.pt"), "-O", "cx=0.1", "-O", "cy=-0.2", "-O", "width=0.15",
               "--out", str(out)])
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"solution.h5", "solution.png", "metrics.json", "model.pt"}
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["problem"] == {"name": "poisson-bump", "cx": 0.1, "cy": -0.2, "width": 0.15}
    solution = load(out / "model.pt")
    # the member's options that differ from poisson-bump's defaults (width 0.15 is its default)
    assert solution.problem_name == "poisson-bump" and solution.options == {"cx": 0.1, "cy": -0.2}
    family = load_family(trained / "family.pt")
    x = torch.rand(9, 2) * 2 - 1
    p = torch.tensor([[0.1, -0.2, 0.15]])
    with torch.no_grad():
        expected = family.model(family.family.condition(p.float()), x)[0]
        assert torch.allclose(solution(x), expected, atol=1e-6)
    with h5py.File(out / "solution.h5") as f:
        assert set(f["fields"]) == {"predicted", "reference", "error"}
        assert np.allclose(f["fields/error"][()], f["fields/predicted"][()] - f["fields/reference"][()])
    assert meta["metrics"]["rel_l2"] == pytest.approx(solution.metrics["rel_l2"])


@pytest.mark.parametrize("options, match", [
    (["-O", "cx=0.9", "-O", "cy=0", "-O", "width=0.15"], r"cx = 0.9 is outside the trained range \[-0.5, 0.5\]"),
    (["-O", "cx=0.1", "-O", "cy=0"], "missing: width"),
    (["-O", "cx=0.1", "-O", "cy=0", "-O", "width=0.2", "-O", "k=3"], "unknown: k"),
])
def test_predict_refuses_bad_members_without_traceback(trained, tmp_path, capsys, options, match):
    rc = main(["family", "predict", str(trained / "family.pt"), *options, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert pytest.importorskip("re").search(match, err), err
    assert not (tmp_path / "x").exists()


def test_extrapolate_allows_a_member_outside_the_range(trained, tmp_path):
    rc = main(["family", "predict", str(trained / "family.pt"), "-O", "cx=0.9", "-O", "cy=0", "-O", "width=0.3",
               "--out", str(tmp_path / "x"), "--extrapolate"])
    assert rc == 0 and (tmp_path / "x" / "model.pt").exists()


def test_family_help_loads_no_torch():
    code = ("import sys\nfrom sirenpde.cli.main import main\n"
            "for argv in (['family', '--help'], ['family', 'train', '--help'], ['family', 'predict', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit as stop:\n        assert stop.code == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_train_under_torchrun_writes_once_from_rank_0(tmp_path):
    import os

    out = tmp_path / "fam"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "sirenpde.cli",
           "family", "train", "poisson-family", "--out", str(out), "--steps", "4", "--instances", "3", "--points", "8",
           "--members", "3", "--device", "cpu", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "SIRENPDE_DIST_TIMEOUT": "60"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("held-out relative L2") == 1  # rank 1 trains but writes and prints nothing
    assert {p.name for p in out.iterdir()} == {"family.pt", "metrics.json", "family.png"}
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_familys_predicted_member_loads_back_with_its_problem(name, tmp_path):
    """``family predict`` writes a member's model.pt; ``sirenpde.load`` gives it back with its problem,
    rebuilt by name from the stored options as the family's own ``instance(p)`` (the same identity)."""
    from sirenpde.hyper import get_family
    from sirenpde.hyper.files import save_family
    from sirenpde.io.solution import load

    family = get_family(name)
    model = family.make_model("film", seed=0, hidden_features=16, hidden_layers=1)  # untrained is enough here
    save_family(tmp_path / "family.pt", model, family)
    p = family.held_out(1, dtype=torch.float64)[0]
    given = [arg for n, v in zip(family.names, p.tolist()) for arg in ("-O", f"{n}={v!r}")]
    rc = main(["family", "predict", str(tmp_path / "family.pt"), *given, "--out", str(tmp_path / "member")])
    assert rc == 0
    solution = load(tmp_path / "member" / "model.pt")
    member = family.member(p)
    assert solution.problem_name == member.name and solution.options == family.member_options(p)
    assert solution.problem.identity() == member.identity()  # every option round-trips
    low, high = member.region()
    x = (torch.rand(7, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
         * (torch.tensor(high) - torch.tensor(low)) + torch.tensor(low)).float()
    with torch.no_grad():
        expected = model(family.condition(p[None].float()), x)[0]
    assert torch.allclose(solution(x), expected, atol=1e-6)
