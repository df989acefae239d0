"""Command line: solve writes its files atomically, errors are reported with exit code 2."""
import json

import h5py
import pytest

from sirenpde.cli.main import main


def test_solve_writes_fields_figure_and_metrics(tmp_path, capsys, monkeypatch):
    import numpy as np
    import torch

    import sirenpde.training
    from sirenpde.problems import get_problem
    from sirenpde.problems.image_data import pixel_grid

    trained = {}
    real_fit = sirenpde.training.fit

    def keep_model(*args, **kwargs):  # the test needs the model that wrote the fields
        result = real_fit(*args, **kwargs)
        trained["model"] = result.model
        return result

    monkeypatch.setattr(sirenpde.training, "fit", keep_model)
    out = tmp_path / "run"
    rc = main(["solve", "poisson-gradient", "-O", "size=16", "--steps", "3", "--lbfgs-steps", "2",
               "--hidden-features", "16", "--hidden-layers", "1", "--out", str(out), "-q"])
    assert rc == 0
    assert "psnr:" in capsys.readouterr().out
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["problem"]["name"] == "poisson-gradient" and meta["steps"] == 5  # 3 Adam + 2 L-BFGS
    truth = get_problem("poisson-gradient", size=16).truth
    # a zero network scores 10 log10(2^2 / var(truth)) = 10.2 dB on this image (the gradient
    # problem compares after removing the mean); 8 runs of this command measured 18.5-20.7 dB,
    # so a trained model must beat the zero network by 5 dB
    zero_psnr = 10 * np.log10(4 / np.var(truth))
    assert meta["metrics"]["psnr"] > zero_psnr + 5.0, (meta["metrics"], zero_psnr)
    # the fields are the trained model at the pixel centres: its values, and its Laplacian by
    # nested autograd (the writer uses the jet engine: float32 agreement, measured 5e-6 of a
    # Laplacian of size 25-30)
    x = pixel_grid((16, 16)).requires_grad_(True)
    u = trained["model"](x)
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    lap = sum(torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
    with h5py.File(out / "solution.h5") as f:
        rec, laplacian = f["fields/reconstruction"][()], f["fields/laplacian"][()]
        np.testing.assert_allclose(rec, u.detach().numpy().reshape(16, 16), rtol=0, atol=1e-6)
        np.testing.assert_allclose(laplacian, lap.detach().numpy().reshape(16, 16), rtol=0,
                                   atol=1e-5 * np.abs(laplacian).max())
        np.testing.assert_array_equal(f["fields/reference"][()], truth)
        assert len(f["history/gradient"]) == 5
    centred = (rec - rec.mean()) - (truth - truth.mean())
    # float32 fields: the recomputed PSNR agrees to 2e-8 dB
    assert meta["metrics"]["psnr"] == pytest.approx(10 * np.log10(4 / np.mean(centred**2)), abs=1e-6)
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
