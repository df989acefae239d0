"""Shapes end to end: fit a torus, mesh it in the input's units, save/load, preview, noise settings."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
import trimesh

from sirenpde.nn import Siren
from sirenpde.meshing.export import component_labels
from sirenpde.shapes.pointcloud import Normalization, PointCloud, sample_surface, write_xyz
from sirenpde.shapes.fit import fit_sdf, mesh_shape
from sirenpde.shapes.model import FORMAT, ShapeModel, load_shape_model
from sirenpde.shapes.preview import view_rotation, write_preview
from sirenpde.shapes.metrics import evaluate_mesh
from _shapes import CENTER, RADIUS, run, sphere_cloud, torus_sdf, true_sphere, true_torus

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py
# Measured to converge in ~5 CPU seconds (see test_torus_is_reconstructed).
FIT = dict(steps=300, hidden_features=64, hidden_layers=2, batch_size=2000, lr=1e-3, device="cpu",
           progress=False)


@pytest.fixture(scope="module")
def fitted(one_thread):
    cloud = sample_surface(true_torus(), 3000, seed=0)
    return fit_sdf(cloud, **FIT)


@pytest.fixture(scope="module")
def torus_mesh(fitted):
    return mesh_shape(fitted[0], 64, progress=False, device="cpu")


def test_torus_is_reconstructed(fitted, torus_mesh):
    """A 3x64 Siren fitted for 300 steps to 3,000 points of a torus (major radius 2, minor 0.7,
    centred at (10, -5, 3)) meshes at 64^3 to one piece within an exact Chamfer distance of 1e-3
    of the bounding box (measured: 4e-4), every vertex within 0.03 (input units) of the torus."""
    shape, result = fitted
    scores = evaluate_mesh(torus_mesh, true_torus(), n_samples=50_000)
    assert scores["chamfer_l1_exact"] < 1e-3
    assert scores["normal_consistency"] > 0.99
    assert scores["precision"] > 0.999 and scores["recall"] > 0.999
    assert len(np.unique(component_labels(torus_mesh))) == 1  # no stray surfaces
    assert np.abs(torus_sdf(torus_mesh.vertices)).max() < 0.03
    assert result.metrics["surface_abs_f_input_units"] < 5e-3
    assert result.history["total"][-1] < 0.1 * result.history["total"][0]


def test_sdf_in_input_units(fitted):
    """Near the surface the field is the signed distance in the input's units (the near-surface
    band); deep inside and in the hole, 300 steps give the right sign, not yet the distance."""
    shape, _ = fitted
    cloud = sample_surface(true_torus(), 500, seed=5)
    assert np.abs(shape.sdf(cloud.points)).max() < 0.03
    for t in (-0.1, 0.1):
        assert shape.sdf(cloud.points + t * cloud.normals) == pytest.approx(np.full(500, t), abs=0.03)
    assert shape.sdf(CENTER[None] + [RADIUS, 0.0, 0.0])[0] < -0.2  # tube core, exact -0.7
    assert shape.sdf(CENTER[None] + [0.0, 0.3, 0.0])[0] > 0.2  # in the hole, exact +1.0


def test_saved_model_reloads_and_meshes_identically(fitted, torus_mesh, tmp_path):
    shape, _ = fitted
    path = shape.save(tmp_path / "torus.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["torus.pt"]  # no temporary left behind
    loaded = load_shape_model(path)
    assert np.array_equal(loaded.normalization.center, shape.normalization.center)
    assert loaded.normalization.scale == shape.normalization.scale
    assert loaded.metadata["points"] == 3000 and loaded.metadata["steps"] == FIT["steps"]
    for key, value in shape.net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[key], value)
    again = mesh_shape(loaded, 64, progress=False, device="cpu")
    assert np.array_equal(again.vertices, torus_mesh.vertices)
    assert np.array_equal(again.faces, torus_mesh.faces)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["config"]["name"] == "siren"


def test_normalisation_round_trip_through_a_saved_model(tmp_path):
    """A network that is exactly a sphere of radius 0.45 about 0.1 e_x in normalised units, under
    the normalisation (center c, scale s), must mesh to the sphere about c + 0.1 s e_x of radius
    0.45 s: the saved normalisation maps vertices back to the input's units."""
    norm = Normalization(center=np.array([-3.0, 7.0, 100.0]), scale=25.0)
    net = Siren(3, 1, hidden_features=8, hidden_layers=0)
    shape = ShapeModel(net, norm)
    loaded = load_shape_model(shape.save(tmp_path / "m.pt"))

    class Sphere(torch.nn.Module):  # same normalisation, exact SDF instead of the network
        normalization = loaded.normalization

        def forward(self, x):
            return (x - torch.tensor([0.1, 0.0, 0.0])).norm(dim=1, keepdim=True) - 0.45

    from sirenpde.meshing import extract_mesh

    mesh = extract_mesh(Sphere(), ((-1, -1, -1), (1, 1, 1)), 48, progress=False)
    center = norm.center + [0.1 * 25.0, 0, 0]
    radii = np.linalg.norm(mesh.vertices - center, axis=1)
    assert np.abs(radii / (0.45 * 25.0) - 1).max() < 0.01


class NotAModel:
    pass


@pytest.mark.parametrize("content, match", [
    ({"weights": torch.zeros(3)}, "format 'sirenpde-shape-1' expected, found None"),
    ({"format": "sirenpde-checkpoint-1", "model": {}}, "expected, found 'sirenpde-checkpoint-1'"),
    ({"format": FORMAT, "config": {}}, "lacks keys"),
    ([1, 2, 3], "expected, found 'list'"),
    (NotAModel(), "holds objects other than plain tensors"),
])
def test_loading_a_foreign_file_raises(tmp_path, content, match):
    path = tmp_path / "foreign.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=match):
        load_shape_model(path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_loading_a_text_file_or_missing_file_raises(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights\n")
    with pytest.raises(ValueError, match="not a sirenpde shape model"):
        load_shape_model(path)
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump({"format": FORMAT}, f)
    with pytest.raises(ValueError, match="not a sirenpde shape model"):
        load_shape_model(tmp_path / "plain.pkl")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_shape_model(tmp_path / "missing.pt")


def test_loading_weights_that_do_not_fit_the_config_raises(tmp_path):
    shape = ShapeModel(Siren(3, 1, hidden_features=8, hidden_layers=1), Normalization(np.zeros(3), 1.0))
    path = shape.save(tmp_path / "m.pt")
    state = torch.load(path, weights_only=True)
    state["config"]["hidden_features"] = 16
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"weights do not fit its configuration \(hidden.0.bias is \[8\]"):
        load_shape_model(path)
    # an untrusted config claiming 60,000 features (14 GB) is refused without building it
    state["config"]["hidden_features"] = 60_000
    torch.save(state, path)
    with pytest.raises(ValueError, match="hidden_features=60,000, more than its 113 stored numbers"):
        load_shape_model(path)


def test_shape_model_jets_agree_with_autograd():
    from sirenpde.fields import field

    torch.manual_seed(0)
    net = Siren(3, 1, hidden_features=16, hidden_layers=1)
    shape = ShapeModel(net, Normalization(np.zeros(3), 1.0)).double()
    x = torch.randn(64, 3, dtype=torch.float64)
    jet = field(shape, x, order=2, second="hessian", engine="jet")
    auto = field(shape, x, order=2, second="hessian", engine="autograd")
    assert jet.engine == "jet"
    assert torch.allclose(jet.value, auto.value, atol=1e-12)
    assert torch.allclose(jet.grad, auto.grad, atol=1e-12)
    assert torch.allclose(jet.hessian, auto.hessian, atol=1e-10)


def test_a_network_without_jets_falls_back_to_autograd():
    from sirenpde.fields import field, supports_jets

    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    shape = ShapeModel(net, Normalization(np.zeros(3), 1.0))
    assert not supports_jets(shape)
    assert field(shape, torch.rand(5, 3), order=1).engine == "autograd"
    assert field(ShapeModel(Siren(3, 1, 8, 1), Normalization(np.zeros(3), 1.0)), torch.rand(5, 3),
                 order=1).engine == "reverse"


def test_shape_model_rejects_wrong_sizes():
    with pytest.raises(ValueError, match="out_features=2"):
        ShapeModel(Siren(3, 2), Normalization(np.zeros(3), 1.0))
    with pytest.raises(ValueError, match="Normalization"):
        ShapeModel(Siren(3, 1), {"center": [0, 0, 0], "scale": 1.0})


def sphere_view(size: int, radius: float = 0.5):
    """Pixel-centre coordinates of an orthographic view, and the exact shading |n . light| of a
    sphere of ``radius`` there (its normal at (x, y) is (x, y, sqrt(r^2 - x^2 - y^2)) / r)."""
    from sirenpde.shapes.preview import LIGHT

    c = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(c, -c)
    r2 = x**2 + y**2
    normal = np.stack([x, y, np.sqrt(np.clip(radius**2 - r2, 0, None))], -1) / radius
    return np.sqrt(r2), np.abs(normal @ LIGHT)


def test_the_preview_of_a_sphere_is_its_exact_shading_inside_the_silhouette():
    """A sphere of radius 0.5 (icosphere, 5,120 faces) seen from any side: the drawn disc covers
    pi 0.25 / 4 of the square [-1, 1]^2, every pixel inside the silhouette is drawn (no hole, no
    far side showing through) and none is darker (or brighter) than the exact shading allows, to
    the facets' error: 0.02 (measured 0.005); nothing is drawn outside."""
    import trimesh

    from sirenpde.shapes.preview import render_mesh

    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    r, exact = sphere_view(200)
    for azimuth, elevation in ((0, 0), (30, 20), (200, -60)):
        img = render_mesh(sphere.vertices, sphere.faces, sphere.vertex_normals, view_rotation(azimuth, elevation), 200)
        inside, outside = r < 0.5 * 0.98, r > 0.5 * 1.01
        assert np.isfinite(img[inside]).all()
        assert np.abs(img - exact)[inside].max() < 0.02
        assert not np.isfinite(img[outside]).any()
        assert np.isfinite(img).mean() == pytest.approx(np.pi * 0.25 / 4, rel=0.02)


def test_the_preview_rasterises_large_triangles_and_keeps_the_nearest():
    """Two squares of two triangles each, one behind the other: the front one hides the back one
    where they overlap; triangles spanning most of the picture are drawn whole."""
    from sirenpde.shapes.preview import LIGHT, render_mesh

    square = np.array([[-0.8, -0.8, 0], [0.8, -0.8, 0], [0.8, 0.8, 0], [-0.8, 0.8, 0]], float)
    back = square * [1, 1, 1] + [0.1, 0.1, -0.5]
    vertices = np.vstack([square * [0.5, 0.5, 1], back])
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    tilted = np.tile([0.0, 0.6, 0.8], (4, 1))
    normals = np.vstack([np.tile([0.0, 0.0, 1.0], (4, 1)), tilted])
    img = render_mesh(vertices, faces, normals, np.eye(3), 100)
    assert img[50, 50] == pytest.approx(LIGHT[2])  # the front square, facing the camera
    assert img[10, 85] == pytest.approx(abs(np.dot([0.0, 0.6, 0.8], LIGHT)))  # the back one, beside it
    assert np.isnan(img[95, 2])
    # the union is the back square, [-0.7, 0.9]^2: 80 x 80 pixel centres, one row or column more or
    # less at each edge
    assert abs(np.isfinite(img).sum() - 80 * 80) <= 2 * 81


def test_write_preview_is_a_png(tmp_path):
    path = write_preview(true_sphere(), tmp_path / "s.png", size=80)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]


# ------------------------------------------------------------------------------- CLI


def test_cli_fit_mesh_evaluate(fitted, tmp_path, capsys):
    cloud = sphere_cloud(400)
    xyz = tmp_path / "s.xyz"
    write_xyz(xyz, cloud.points, cloud.normals)
    assert run("fit-sdf", xyz, "-o", tmp_path / "s.pt", "--steps", 3, "--hidden-features", 16,
               "--hidden-layers", 1, "--batch-size", 300, "--device", "cpu", "--no-progress") == 0
    assert load_shape_model(tmp_path / "s.pt").metadata["steps"] == 3
    # mesh the well-fitted model through the CLI
    fitted[0].save(tmp_path / "good.pt")
    assert run("mesh", tmp_path / "good.pt", "-o", tmp_path / "good.ply", "--resolution", 40,
               "--no-progress", "--cleanup", "largest") == 0
    assert (tmp_path / "good.png").exists()
    mesh = trimesh.load(tmp_path / "good.ply")
    assert np.abs(torus_sdf(mesh.vertices)).max() < 0.05
    true_torus().export(tmp_path / "truth.obj")
    assert run("evaluate", tmp_path / "good.ply", "--reference", tmp_path / "truth.obj",
               "--json", tmp_path / "scores.json", "--samples", 20000) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())
    direct = evaluate_mesh(tmp_path / "good.ply", tmp_path / "truth.obj", n_samples=20000)
    for key in ("chamfer_l1", "chamfer_l1_exact", "normal_consistency", "fscore"):
        assert scores[key] == pytest.approx(direct[key], rel=1e-12)
    assert "Chamfer-L1" in capsys.readouterr().out


@pytest.mark.parametrize("engine", ["reverse", "jet"])
def test_first_order_engines_train_the_same_sdf_as_autograd(engine):
    """The SDF loss needs f and grad f only: the reverse sweep, forward jets and double-backward
    autograd give the same loss and parameter updates (float32 rounding, over 5 Adam steps)."""
    cloud = sphere_cloud(400)
    fits = {e: fit_sdf(cloud, 5, hidden_features=32, hidden_layers=1, batch_size=600, lr=1e-3,
                       device="cpu", progress=False, engine=e)
            for e in (engine, "autograd")}
    (a, ra), (b, rb) = fits[engine], fits["autograd"]
    assert ra.history["total"] == pytest.approx(rb.history["total"], rel=1e-4)
    for (name, p), q in zip(a.net.named_parameters(), b.net.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name


def test_noise_setting_picks_the_surface_weight():
    """noise="noisy" lowers the on-surface weight to 5e2 (an explicit weight wins); "clean" keeps
    the paper's 3e3; "auto" (the default) picks by the cloud's roughness. the sine frequency stays 30 throughout."""
    from sirenpde.cli.shape import noise_line
    from sirenpde.shapes.fit import NOISY_SURFACE_WEIGHT

    rng = np.random.default_rng(0)
    clean = sphere_cloud(2000)
    rough = PointCloud(clean.points + rng.normal(scale=0.05, size=clean.points.shape), clean.normals, "rough")
    small = dict(hidden_features=8, hidden_layers=1, batch_size=60, device="cpu", progress=False)

    def fitted(cloud, **kw):
        shape, _ = fit_sdf(cloud, 0, **small, **kw)
        m = shape.metadata
        return shape.net.first_omega_0, m["problem"]["surface_weight"], m["noise"], m["roughness"], m

    omega, weight, noise, r_clean, meta = fitted(clean)
    assert (omega, weight, noise, meta["noise_requested"]) == (30.0, 3e3, "clean", "auto") and r_clean < 0.1
    assert "clean (chosen from the roughness)" in noise_line(meta) and "at or below" in noise_line(meta)
    omega, weight, noise, r_rough, meta = fitted(rough)
    assert (omega, weight, noise) == (30.0, NOISY_SURFACE_WEIGHT, "noisy") and r_rough > 0.2
    assert "noisy (chosen from the roughness)" in noise_line(meta) and "above" in noise_line(meta)
    # Asked for explicitly, a setting holds whatever the roughness says.
    assert fitted(rough, noise="clean")[1:3] == (3e3, "clean")
    omega, weight, noise, _, meta = fitted(clean, noise="noisy")
    assert (weight, noise) == (NOISY_SURFACE_WEIGHT, "noisy") and "(as asked)" in noise_line(meta)
    got = fitted(rough, noise="noisy", first_omega_0=22.0, hidden_omega_0=22.0, surface_weight=500.0)
    assert got[:3] == (22.0, 500.0, "noisy")
    with pytest.raises(ValueError, match="noise must be one of auto, clean, noisy"):
        fit_sdf(clean, 0, noise="loud", **small)


def test_cloud_with_duplicated_points_still_fits():
    """Roughness is only information: a cloud whose points mostly repeat (spacing 0) fits and
    records no roughness instead of failing."""
    from sirenpde.cli.shape import noise_line

    cloud = sphere_cloud(100)
    dup = PointCloud(np.repeat(cloud.points, 3, axis=0), np.repeat(cloud.normals, 3, axis=0), "dup")
    shape, _ = fit_sdf(dup, 1, hidden_features=8, hidden_layers=1, batch_size=60, device="cpu", progress=False)
    assert shape.metadata["roughness"] is None
    assert "not measured" in noise_line(shape.metadata)


class _Constant(torch.nn.Module):
    in_features, out_features = 3, 1

    def forward(self, x):
        return torch.full((x.shape[0], 1), 0.01, dtype=x.dtype)


def test_mesh_of_a_collapsed_fit_names_the_rate():
    """A field of one sign has no mesh: the error says so and points at the learning rate."""
    from sirenpde.meshing import NoSurfaceError

    norm = Normalization.fit(sphere_cloud(100).points)
    collapsed = ShapeModel(_Constant(), norm, {"lr": 0.002})
    with pytest.raises(NoSurfaceError, match=r"never crossed.*collapse to one sign.*lr 0.002; try half"):
        mesh_shape(collapsed, 16, device="cpu", progress=False, method="dense")
    with pytest.raises(ValueError, match="try a lower lr"):  # NoSurfaceError is a ValueError
        mesh_shape(ShapeModel(_Constant(), norm), 16, device="cpu", progress=False)
    with pytest.raises(NoSurfaceError, match="these bounds; unless they miss the shape"):
        mesh_shape(collapsed, 16, device="cpu", progress=False, bounds=((0, 0, 0), (1, 1, 1)))
