"""The shape commands of the CLI (reconstruct, fit-sdf, mesh, evaluate) and the shape demo."""
from __future__ import annotations

import pytest

from sirenpde.shapes.pointcloud import write_xyz
from _shapes import parser, run, sphere_cloud

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.mark.slow  # about 20 s here: enough steps to mesh a real sphere
def test_cli_reconstruct(tmp_path, capsys):
    import numpy as np
    import trimesh

    from _shapes import CENTER, RADIUS

    cloud = sphere_cloud(500)
    xyz = tmp_path / "s.xyz"
    write_xyz(xyz, cloud.points, cloud.normals)
    # w0 = 5 suits a sphere filling the cube; 100 steps at lr 3e-3 is the least that meshes one
    # surface (40 steps at w0 = 30 left spurious patches 1.9 away)
    assert run("reconstruct", xyz, "-o", tmp_path / "out.ply", "--steps", 100, "--resolution", 24,
               "--hidden-features", 32, "--hidden-layers", 1, "--batch-size", 1000, "--lr", 3e-3,
               "--w0", 5, "--device", "cpu", "--no-progress", "--save-model", tmp_path / "out.pt") == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["out.ply", "out.png", "out.pt", "s.xyz"]
    assert "wrote" in capsys.readouterr().out
    # the mesh is the sphere of radius 2 at (10, -5, 3) in the cloud's own units: measured vertex
    # distances to it at most 0.039 (mean 0.0093); the bounds allow 2.5x and 3x that
    mesh = trimesh.load(tmp_path / "out.ply", process=False)
    distance = np.abs(np.linalg.norm(mesh.vertices - CENTER, axis=1) - RADIUS)
    assert distance.max() < 0.1 and distance.mean() < 0.03, (distance.max(), distance.mean())
    assert len(mesh.split(only_watertight=False)) == 1


@pytest.mark.parametrize("argv, error, match", [
    (["fit-sdf", "{xyz}", "-o", "{tmp}/model.txt"], ValueError, r"\.pt"),
    (["reconstruct", "{xyz}", "-o", "{tmp}/mesh.obj"], ValueError, r"\.ply"),
    (["mesh", "{xyz}", "-o", "{tmp}/m.ply"], ValueError, "not a sirenpde shape model"),
    (["mesh", "{tmp}/none.pt", "-o", "{tmp}/m.ply"], FileNotFoundError, "not found"),
    (["evaluate", "{tmp}/none.ply", "--reference", "{tmp}/none.obj"], FileNotFoundError, "not found"),
    (["fit-sdf", "{tmp}/none.xyz", "-o", "{tmp}/m.pt"], FileNotFoundError, "not found"),
])
def test_cli_errors(tmp_path, argv, error, match):
    cloud = sphere_cloud(50)
    xyz = tmp_path / "s.xyz"
    write_xyz(xyz, cloud.points, cloud.normals)
    argv = [a.format(xyz=xyz, tmp=tmp_path) for a in argv]
    with pytest.raises(error, match=match):
        run(*argv)


@pytest.mark.slow
def test_demo_shape_quick(tmp_path):
    """The demo's quick mode: files written, scores against the true torus (measured exact
    Chamfer 4.8e-4 to 5.6e-4 and normal consistency 0.9967 to 0.9974 over seeds 0-3 after its
    200 steps)."""
    from sirenpde.cli.shape import demo_shape

    stats = demo_shape(tmp_path / "shape", quick=True, progress=False)
    assert sorted(p.name for p in (tmp_path / "shape").iterdir()) == ["torus.ply", "torus.png", "torus.xyz"]
    assert stats["chamfer_l1_exact"] < 2e-3 and stats["normal_consistency"] > 0.99
    assert stats["points"] == 2000 and stats["fit_s"] > 0


def test_cli_rejects_bad_numbers(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["reconstruct", "c.xyz", "-o", "m.ply", "--steps", "0"])
    with pytest.raises(SystemExit):
        parser().parse_args(["mesh", "m.pt", "-o", "m.ply", "--cleanup", "2"])
    assert "positive integer" in capsys.readouterr().err


def test_cli_engine_option_reaches_the_fit(tmp_path, monkeypatch):
    seen = {}
    import sirenpde.shapes.fit as shape_mod

    real = shape_mod.fit_sdf

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(shape_mod, "fit_sdf", spy)
    cloud = sphere_cloud(200)
    xyz = tmp_path / "s.xyz"
    write_xyz(xyz, cloud.points, cloud.normals)
    assert run("fit-sdf", xyz, "-o", tmp_path / "m.pt", "--steps", 2, "--hidden-features", 16,
               "--hidden-layers", 1, "--batch-size", 300, "--engine", "jet", "--device", "cpu",
               "--no-progress") == 0
    assert seen.get("engine") == "jet"
