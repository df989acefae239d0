"""``solve`` writes model.pt reproducibly and can warm-start from it; ``eval`` evaluates it."""
import json

import h5py
import numpy as np
import pytest
import torch

from sirenpde.cli.main import main
from sirenpde.io.archive import read_archive

SMALL = ["-O", "size=16", "--hidden-features", "16", "--hidden-layers", "1", "-q"]


def _weights(path):
    return read_archive(path, "sirenpde-solution-1")["state_dict"]


def test_same_command_same_seed_is_bit_identical(tmp_path):
    for name in ("a", "b"):
        assert main(["solve", "image-fit", *SMALL, "--steps", "3", "--seed", "7", "--out", str(tmp_path / name)]) == 0
    meta = [json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("a", "b")]
    assert meta[0]["metrics"] == meta[1]["metrics"]
    wa, wb = _weights(tmp_path / "a" / "model.pt"), _weights(tmp_path / "b" / "model.pt")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    # and the seed matters: another seed starts elsewhere
    assert main(["solve", "image-fit", *SMALL, "--steps", "3", "--seed", "8", "--out", str(tmp_path / "c")]) == 0
    wc = _weights(tmp_path / "c" / "model.pt")
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_model_pt_records_the_run_and_loads(tmp_path):
    import sirenpde

    out = tmp_path / "run"
    assert main(["solve", "image-fit", *SMALL, "--steps", "2", "--seed", "3", "--out", str(out)]) == 0
    sol = sirenpde.load(out / "model.pt")
    meta = json.loads((out / "metrics.json").read_text())
    assert sol.problem_name == "image-fit" and sol.options == {"size": 16}
    assert sol.metrics == meta["metrics"] and sol.info["steps"] == 2 and sol.info["seed"] == 3
    # the fields in solution.h5 are the saved model at the pixel centres
    from sirenpde.problems.image_data import pixel_grid

    with h5py.File(out / "solution.h5") as f:
        saved = f["fields/reconstruction"][()]
    np.testing.assert_allclose(sol(pixel_grid((16, 16)).numpy()).reshape(16, 16), saved, rtol=0, atol=1e-6)


def _first_loss(out):
    with h5py.File(out / "solution.h5") as f:
        return float(f["history/value"][0])


def test_init_starts_from_the_saved_weights(tmp_path):
    fit = ["--lr", "1e-3", "--hidden-features", "32", "--hidden-layers", "1", "-O", "size=16", "-q"]
    assert main(["solve", "image-fit", *fit, "--steps", "150", "--out", str(tmp_path / "long")]) == 0
    assert main(["solve", "image-fit", *fit, "--steps", "1", "--out", str(tmp_path / "fresh")]) == 0
    assert main(["solve", "image-fit", *fit, "--steps", "1", "--init", str(tmp_path / "long" / "model.pt"),
                 "--out", str(tmp_path / "warm")]) == 0
    long_last = json.loads((tmp_path / "long" / "metrics.json").read_text())["final_loss"]["value"]
    fresh, warm = _first_loss(tmp_path / "fresh"), _first_loss(tmp_path / "warm")
    # the first step of the warm start sees the trained model's loss (the same batch draw as the
    # long run's first step, so not its last loss exactly, but of its size), far below a fresh start
    # measured: fresh 0.39, warm 2.5e-8, the long run's last 2.7e-8
    assert warm < 1e-3 * fresh, (warm, fresh)
    assert warm < 3 * long_last, (warm, long_last)
    info = read_archive(tmp_path / "warm" / "model.pt", "sirenpde-solution-1")["info"]
    assert info["init"].endswith("model.pt")


def _shape_sdf_torch(shape, p):
    """The shape's SDF in input units as a differentiable torch function of input points."""
    c = torch.as_tensor(shape.normalization.center, dtype=torch.float64)
    s = shape.normalization.scale
    return s * shape.net(((p.double() - c) / s).float()).double()


def test_eval_solution_and_shape(tmp_path, capsys):
    import sirenpde
    from sirenpde.shapes.model import load_shape_model

    run = tmp_path / "run"
    assert main(["solve", "image-fit", *SMALL, "--steps", "2", "--out", str(run)]) == 0
    pts = np.random.default_rng(1).uniform(-1, 1, (37, 2))
    np.save(tmp_path / "p.npy", pts)
    np.savetxt(tmp_path / "p.txt", pts)
    assert main(["eval", str(run / "model.pt"), "--points", str(tmp_path / "p.npy"), "--out",
                 str(tmp_path / "v.h5"), "--order", "2", "--chunk", "10"]) == 0
    assert main(["eval", str(run / "model.pt"), "--points", str(tmp_path / "p.txt"), "--out",
                 str(tmp_path / "t.h5"), "--order", "0"]) == 0
    sol = sirenpde.load(run / "model.pt")
    x = torch.as_tensor(pts, dtype=torch.float32).requires_grad_(True)
    u = sol.model(x)
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    d2 = torch.stack([torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2)], -1)
    with h5py.File(tmp_path / "v.h5") as f, h5py.File(tmp_path / "t.h5") as t:
        assert f.attrs["order"] == 2 and f.attrs["kind"] == "solution" and f.attrs["source"].endswith("model.pt")
        # float32 jets against nested autograd: measured below 1e-6 relative
        np.testing.assert_allclose(f["value"][()], u.detach().numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(f["grad"][()][:, 0], g.detach().numpy(), rtol=1e-4, atol=1e-4)
        scale = np.abs(d2.detach().numpy()).max()
        np.testing.assert_allclose(f["d2"][()][:, 0], d2.detach().numpy(), rtol=0, atol=1e-4 * scale)
        np.testing.assert_allclose(f["laplacian"][()][:, 0], d2.sum(-1).detach().numpy(), rtol=0,
                                   atol=2e-4 * scale)
        np.testing.assert_allclose(t["value"][()], f["value"][()], rtol=0, atol=1e-6)
        assert "grad" not in t

    # a shape: points and values in the input's units (a sphere of radius 5 about (10, 0, 0))
    rng = np.random.default_rng(0)
    p = rng.normal(size=(300, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    np.savetxt(tmp_path / "s.xyz", np.hstack([10 * np.eye(3)[0] + 5 * p, p]))
    assert main(["fit-sdf", str(tmp_path / "s.xyz"), "-o", str(tmp_path / "s.pt"), "--steps", "2",
                 "--hidden-features", "16", "--hidden-layers", "1", "--batch-size", "64", "--no-progress"]) == 0
    q = np.array([10.0, 0, 0]) + rng.uniform(-6, 6, (25, 3))
    np.save(tmp_path / "q.npy", q)
    assert main(["eval", str(tmp_path / "s.pt"), "--points", str(tmp_path / "q.npy"), "--out",
                 str(tmp_path / "s.h5"), "--order", "2"]) == 0
    shape = load_shape_model(tmp_path / "s.pt")
    xq = torch.as_tensor(q).requires_grad_(True)
    f_in = _shape_sdf_torch(shape, xq)
    gq = torch.autograd.grad(f_in.sum(), xq, create_graph=True)[0]
    lap = sum(torch.autograd.grad(gq[:, i].sum(), xq, retain_graph=True)[0][:, i] for i in range(3))
    with h5py.File(tmp_path / "s.h5") as f:
        assert f.attrs["kind"] == "shape"
        np.testing.assert_allclose(f["value"][()][:, 0], shape.sdf(q), rtol=0, atol=1e-5 * 5)
        np.testing.assert_allclose(f["grad"][()][:, 0], gq.detach().numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(f["laplacian"][()][:, 0], lap.detach().numpy(), rtol=0,
                                   atol=1e-3 * max(1.0, np.abs(lap.detach().numpy()).max()))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_init_refuses_another_model(tmp_path):
    assert main(["solve", "image-fit", *SMALL, "--steps", "1", "--out", str(tmp_path / "a")]) == 0
    from sirenpde.io.solution import init_from
    from sirenpde.problems import get_problem

    relu = get_problem("image-fit", size=16).make_model("relu")
    with pytest.raises(ValueError, match="model 'siren'.*'relu'"):
        init_from(tmp_path / "a" / "model.pt", relu, "relu")


def test_a_failed_write_leaves_no_outputs(tmp_path, monkeypatch, capsys):
    import sirenpde.io.solution

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "run" / "model.pt"))

    monkeypatch.setattr(sirenpde.io.solution, "save_model", broken)
    rc = main(["solve", "image-fit", *SMALL, "--steps", "1", "--out", str(tmp_path / "run")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "model.pt: No space left on device" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # solution.h5 and metrics.json, already written, removed
