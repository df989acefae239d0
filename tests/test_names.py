"""One name per concept and no global side effects: the omega_0 options with their deprecated
``w0`` alias, fit_sdf's seeding, and figures that leave matplotlib's global state alone."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sirenpde.shapes.fit import default_network, fit_sdf, omega_settings
from sirenpde.shapes.model import load_shape_model
from sirenpde.shapes.pointcloud import write_xyz
from _shapes import run, sphere_cloud

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py
SMALL = {"hidden_features": 16, "hidden_layers": 1, "batch_size": 300, "device": "cpu", "progress": False}


def test_omega_settings_names_and_deprecated_alias():
    assert omega_settings(None, None) == (30.0, 30.0)
    assert omega_settings(12.0, None) == (12.0, 30.0)
    with pytest.warns(DeprecationWarning, match="w0 is deprecated"):
        assert omega_settings(None, None, w0=7.0) == (7.0, 7.0)
    with pytest.raises(ValueError, match="not both"):
        omega_settings(5.0, None, w0=7.0)
    with pytest.raises(ValueError, match="hidden_omega_0 must be a positive number"):
        omega_settings(None, -1.0)


def test_fit_sdf_takes_both_frequencies_and_the_old_keyword():
    cloud = sphere_cloud(200)
    shape, _ = fit_sdf(cloud, 1, first_omega_0=20.0, hidden_omega_0=10.0, **SMALL)
    assert (shape.net.first_omega_0, shape.net.hidden_omega_0) == (20.0, 10.0)
    with pytest.warns(DeprecationWarning):
        shape, _ = fit_sdf(cloud, 1, w0=15.0, **SMALL)
    assert (shape.net.first_omega_0, shape.net.hidden_omega_0) == (15.0, 15.0)


def test_cli_w0_is_a_deprecated_alias(tmp_path, capsys):
    cloud = sphere_cloud(200)
    xyz = tmp_path / "s.xyz"
    write_xyz(xyz, cloud.points, cloud.normals)
    common = ("--steps", 1, "--hidden-features", 16, "--hidden-layers", 1, "--batch-size", 300,
              "--device", "cpu", "--no-progress")
    assert run("fit-sdf", xyz, "-o", tmp_path / "a.pt", "--w0", 12, *common) == 0
    assert "--w0 is deprecated" in capsys.readouterr().err
    net = load_shape_model(tmp_path / "a.pt").net
    assert (net.first_omega_0, net.hidden_omega_0) == (12.0, 12.0)
    assert run("fit-sdf", xyz, "-o", tmp_path / "b.pt", "--first-omega-0", 25, "--hidden-omega-0", 5,
               *common) == 0
    net = load_shape_model(tmp_path / "b.pt").net
    assert (net.first_omega_0, net.hidden_omega_0) == (25.0, 5.0)
    with pytest.raises(ValueError, match="one or the other"):
        run("fit-sdf", xyz, "-o", tmp_path / "c.pt", "--w0", 12, "--first-omega-0", 3, *common)


def test_default_network_leaves_the_global_random_stream_alone():
    from sirenpde.problems.sdf import SDF

    problem = SDF(sphere_cloud(200))
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    a = default_network(problem, seed=3, hidden_features=16, hidden_layers=1)
    assert torch.equal(torch.get_rng_state(), state)
    b = default_network(problem, seed=3, hidden_features=16, hidden_layers=1)
    c = default_network(problem, seed=4, hidden_features=16, hidden_layers=1)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), name  # the seed fixes the initial weights...
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))  # ...and picks them


def test_figures_leave_pyplot_and_the_backend_alone(tmp_path):
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"  # a caller's own choice of backend must survive
        "from sirenpde.io.plotting import save_figure, subplots\n"
        "fig, ax = subplots(1, 2, figsize=(4, 2))\n"
        "ax[0].plot([0, 1], [1, 0])\n"
        f"save_figure(fig, {str(tmp_path / 'f.png')!r}, dpi=20)\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "False"]
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
