"""model.pt: a solved problem saved with its configuration, loaded back with sirenpde.load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import sirenpde
from sirenpde.io.solution import load, save_model


def _siren(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return sirenpde.Siren(2, 1, hidden_features=16, hidden_layers=1)


def test_round_trip_gives_the_same_values_and_derivatives(tmp_path):
    model = _siren()
    path = save_model(tmp_path / "model.pt", model, "poisson-gradient", {"image": "camera", "size": 32},
                      model_kwargs={"hidden_features": 16, "hidden_layers": 1}, metrics={"psnr": 31.5},
                      info={"steps": 7})
    sol = load(path)
    x = np.random.default_rng(0).uniform(-1, 1, size=(50, 2)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.as_tensor(x)).numpy()
    assert np.array_equal(sol(x), want)
    u, v = sol.field(x, order=2), sirenpde.field(model, torch.as_tensor(x), order=2)
    assert torch.equal(u.grad, v.grad) and torch.equal(u.laplacian, v.laplacian)
    out = sol.evaluate(x, order=2, chunk=7)  # chunked: the numbers of one call, up to rounding
    assert out["value"].shape == (50, 1) and out["grad"].shape == (50, 1, 2) and out["d2"].shape == (50, 1, 2)
    assert np.allclose(out["laplacian"], v.laplacian.detach().numpy(), rtol=1e-5, atol=1e-5)  # chunks round differently
    assert np.allclose(out["d2"].sum(-1), out["laplacian"], atol=1e-4)
    assert sol.metrics == {"psnr": 31.5} and sol.info == {"steps": 7}
    assert sol.problem_name == "poisson-gradient" and sol.problem.name == "poisson-gradient"
    loaded = torch.load(path, weights_only=True)  # plain data: loadable with weights_only=True
    assert loaded["problem"]["options"] == {"image": "camera", "size": 32}


def test_wrapped_model_is_rebuilt_through_its_problem(tmp_path):
    problem = sirenpde.get_problem("helmholtz-square")
    model = problem.make_model("siren", seed=0, hidden_features=16, hidden_layers=1)
    save_model(tmp_path / "m.pt", model, "helmholtz-square", {}, model_kwargs={"hidden_features": 16,
                                                                              "hidden_layers": 1})
    sol = load(tmp_path / "m.pt")
    x = torch.rand(20, 2)
    assert type(sol.model) is type(model)
    with torch.no_grad():
        assert torch.equal(sol(x), model(x))


def test_hostile_and_damaged_files_are_refused_before_allocating(tmp_path):
    path = save_model(tmp_path / "model.pt", _siren(), "image-fit", {})
    state = torch.load(path, weights_only=True)
    state["model"]["network"]["hidden_features"] = 60_000  # would need 14 GB to build
    torch.save(state, tmp_path / "huge.pt")
    with pytest.raises(ValueError, match="hidden_features=60,000, more than its 337 stored numbers"):
        load(tmp_path / "huge.pt")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "bad.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        load(tmp_path / "bad.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="is not a saved sirenpde solution") as err:
        load(tmp_path / "text.pt")
    assert "weights_only" not in str(err.value)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"points must have shape \(n, 2\)"):
        load(path)(np.zeros((3, 3)))
