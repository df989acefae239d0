"""Command line: solve writes its files atomically, errors are reported with exit code 2."""
import json

import h5py
import pytest

from sirenpde.cli.main import main


def test_solve_writes_fields_figure_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["solve", "poisson-gradient", "-O", "size=16", "--steps", "3", "--lbfgs-steps", "2",
               "--hidden-features", "16", "--hidden-layers", "1", "--out", str(out), "-q"])
    assert rc == 0
    assert "psnr:" in capsys.readouterr().out
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["problem"]["name"] == "poisson-gradient" and meta["steps"] == 5  # 3 Adam + 2 L-BFGS
    assert meta["metrics"]["psnr"] > 0
    with h5py.File(out / "solution.h5") as f:
        assert f["fields/reconstruction"].shape == (16, 16)
        assert f["fields/laplacian"].shape == (16, 16)
        assert len(f["history/gradient"]) == 5
    assert (out / "solution.png").stat().st_size > 1000
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize("argv,message", [
    (["solve", "poissonn", "--out", "x"], "unknown problem 'poissonn'; valid problems:"),
    (["solve", "image-fit", "-O", "image=/no/such.png", "--out", "x"], "/no/such.png"),
    (["solve", "image-fit", "--model", "sine", "--out", "x"], "unknown model 'sine'"),
    (["solve", "image-fit", "-O", "size=8", "--optimizer", "adam", "--steps", "1", "--lr", "-1", "--out", "x"],
     "lr must be positive"),
])
def test_solve_errors(tmp_path, capsys, argv, message):
    argv = [a if a != "x" else str(tmp_path / "x") for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x" / "metrics.json").exists()


@pytest.mark.slow
def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "poisson-gradient PSNR:" in out and "Chamfer-L1" in out
    assert (tmp_path / "poisson-gradient" / "solution.png").exists()
