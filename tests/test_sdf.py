"""The SDF problem: every residual term on an exact sphere SDF, sampling, errors, metrics."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from sirenpde.fields import field
from sirenpde.shapes.pointcloud import PointCloud, write_xyz
from sirenpde.problems.sdf import SDF

CENTER = np.array([10.0, -5.0, 3.0])
RADIUS = 2.0


def sphere_cloud(n: int = 4000, seed: int = 0) -> PointCloud:
    """Points on the sphere (CENTER, RADIUS) with outward normals, plus the six axis extremes so
    the bounding box is exactly the sphere's: the normalised sphere is then centred at 0 with
    radius 0.9."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d = np.vstack([d, np.eye(3), -np.eye(3)])
    return PointCloud(CENTER + RADIUS * d, d, source="sphere")


class NormalisedSphere(torch.nn.Module):
    """Exact SDF of the sphere of radius ``r`` about the origin (no forward_jet: autograd path)."""

    def __init__(self, r: float = 0.9):
        super().__init__()
        self.r = r
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # evaluate() reads a parameter's device

    def forward(self, x):
        return x.norm(dim=1, keepdim=True) - self.r + 0 * self.dummy


def sphere_sdf_input_units(points):
    return np.linalg.norm(np.asarray(points) - CENTER, axis=1) - RADIUS


@pytest.fixture(scope="module")
def problem():
    return SDF(sphere_cloud(), reference_sdf=sphere_sdf_input_units)


def batch_of(problem, name: str, n: int, seed: int = 0) -> dict:
    con = {c.name: c for c in problem.constraints()}[name]
    return con.sampler(n, torch.Generator().manual_seed(seed))


def terms_on(problem, name: str, n: int, seed: int = 0):
    batch = batch_of(problem, name, n, seed)
    u = field(NormalisedSphere(), batch["x"], order=1)
    return batch, problem.terms(u, batch, name)


def test_normalisation_maps_the_sphere_to_radius_0_9(problem):
    assert np.allclose(problem.normalization.center, CENTER, atol=1e-12)
    assert problem.normalization.scale == pytest.approx(RADIUS / 0.9, rel=1e-12)
    assert torch.allclose(problem.points.norm(dim=1), torch.full((len(problem.points),), 0.9), atol=1e-6)


def test_surface_terms_vanish_on_the_exact_sdf(problem):
    _, t = terms_on(problem, "surface", 3000)
    # float32 coordinates of order 1: rounding is ~1e-7
    assert t["surface"].abs().max() < 1e-6
    assert t["normal"].abs().max() < 1e-6
    assert t["eikonal"].abs().max() < 1e-6


def test_near_surface_target_is_the_distance_to_second_order(problem):
    """For x = p + delta on a sphere of radius r, f(x) - n.delta lies in [0, |delta_t|^2 / (2 (r + n.delta))]
    (delta_t the tangential part): exact up to the curvature term, and never below it."""
    batch, t = terms_on(problem, "near", 3000)
    x, normal, target = batch["x"].double(), batch["normal"].double(), batch["target"][:, 0].double()
    delta = x - 0.9 * normal  # surface point p = 0.9 n on the normalised sphere
    a = (delta * normal).sum(1)
    tangential2 = (delta.square().sum(1) - a.square()).clamp(min=0)
    assert torch.allclose(a, target, atol=1e-6)
    gap = x.norm(dim=1) - 0.9 - target
    assert gap.min() > -1e-6
    assert torch.all(gap <= tangential2 / (2 * (0.9 + a)) + 1e-6)
    # E|delta_t|^2 = 2 sigma^2, so the mean term is sigma^2 / r to leading order; per sample
    # its relative std is about 1 (sigma^2 chi^2_2 / 2r), so over 3000 samples the standard
    # error is 1.8%: 4 standard errors allowed (seeds 0-2 measured -1.7% to +1.3%)
    assert t["near"].mean().item() == pytest.approx(problem.near_sigma ** 2 / 0.9, rel=0.075)
    assert t["eikonal"].abs().max() < 1e-6
    # the sample std of 9000 normal draws has relative standard error 1/sqrt(2 * 9000) = 0.75%:
    # 4 standard errors allowed (seeds 0-2 measured -0.45% to +0.38%)
    assert delta.std().item() == pytest.approx(problem.near_sigma, rel=0.03)


def test_off_surface_penalty_matches_its_closed_form(problem):
    """E[exp(-alpha |f|)] for x uniform in [-1, 1]^3 and the sphere of radius 0.9 is
    (1/8) int_0^1 4 pi rho^2 exp(-alpha |rho - 0.9|) d rho plus the cube's corners, where the
    integrand is below exp(-10); the Monte Carlo mean must agree within 4 standard errors."""
    n = 200_000
    _, t = terms_on(problem, "off_surface", n)
    alpha = problem.alpha
    inside, _ = quad(lambda r: 4 * math.pi * r * r * math.exp(-alpha * abs(r - 0.9)), 0, 1, points=[0.9])
    expected = inside / 8
    corners = (8 - 4 / 3 * math.pi) / 8 * math.exp(-alpha * 0.1)
    values = t["off_surface"].double()
    stderr = values.std().item() / math.sqrt(n)
    assert abs(values.mean().item() - expected) < 4 * stderr + corners
    assert expected == pytest.approx(math.pi * 0.81 / alpha, rel=0.01)  # ~ pi r^2 / alpha
    assert t["eikonal"].abs().max() < 1e-6


def test_guide_gives_a_lower_bound_of_the_cloud_distance_and_the_right_side(problem):
    """On the sphere cloud: the tabulated lower bound never exceeds the exact distance to the
    nearest cloud point and is within one grid diagonal (2 sqrt(3) / 31) of it; the winding
    number's sign is never wrong and is unknown only near the surface."""
    guide = problem.guide
    x = torch.rand(20_000, 3, generator=torch.Generator().manual_seed(2)) * 2 - 1
    lower, sign = guide.lookup(x)
    exact = torch.cdist(x.double(), problem.points.double()).min(dim=1).values.float()
    assert torch.all(lower <= exact + 1e-5)
    assert torch.all(exact - lower <= 2 * math.sqrt(3) / 31 + 1e-5)
    true_side = torch.sign(x.norm(dim=1) - 0.9)
    known = sign != 0
    assert torch.all(sign[known] == true_side[known])
    assert (x.norm(dim=1) - 0.9)[~known].abs().max() < 0.1
    assert known.float().mean() > 0.9


def test_winding_number_of_a_sphere():
    """The generalised winding number of outward points is 1 inside and 0 outside. With 6,000
    random points of equal area it is a Monte Carlo quadrature whose error grows as the query
    nears the surface: 1e-3 at the centre, ~3% at 0.3 from the surface."""
    from sirenpde.problems._sdf_guide import winding_numbers

    rng = np.random.default_rng(0)
    d = rng.normal(size=(6000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    area = np.full(len(d), 4 * math.pi / len(d))
    q = np.array([[0, 0, 0], [0.3, -0.2, 0.1], [0, 0, 1.8], [2, 2, 2], [0.5, 0.5, 0.0]])
    w = winding_numbers(q, d, d, area, np.sqrt(area / math.pi))
    assert w[0] == pytest.approx(1, abs=1e-3)
    assert w == pytest.approx([1, 1, 0, 0, 1], abs=0.05)


def test_distance_bound_is_inactive_on_the_exact_sdf_and_bites_on_a_spurious_zero(problem):
    """sign * f >= d(x, cloud) - slack holds for the true SDF once slack exceeds the cloud's
    covering radius; a field that vanishes at the centre (distance 0.9 from every point, inside)
    pays 0.9 - slack, and one that is +0.5 there pays 0.9 - slack + 0.5."""
    _, t = terms_on(problem, "off_surface", 20_000)
    assert t["bound"].max() == 0
    batch = {"x": torch.zeros(1, 3), "cloud_distance": torch.full((1, 1), 0.9), "sign": -torch.ones(1, 1)}
    for value in (0.0, 0.5):
        const = field(lambda x, v=value: v + 0 * x.sum(1, keepdim=True), batch["x"], order=1,
                      engine="autograd")
        bound = problem.terms(const, batch, "off_surface")["bound"].item()
        assert bound == pytest.approx(0.9 - problem.bound_slack + value, abs=1e-6)
    # default slack: 0.02 + 4 median nearest-neighbour spacings (0.0232 here: 0.1129), derived
    # again here; it must exceed the cloud's covering radius for the bound to stay inactive on
    # the true SDF (0.0925, measured on 200k sphere points), and not by more than half of it
    from scipy.spatial import cKDTree

    points = problem.points.double().numpy()
    spacing = cKDTree(points).query(points, k=2)[0][:, 1]
    assert problem.bound_slack == pytest.approx(0.02 + 4 * np.median(spacing), rel=1e-5)
    rng = np.random.default_rng(5)
    probe = rng.normal(size=(200_000, 3))
    probe *= 0.9 / np.linalg.norm(probe, axis=1, keepdims=True)
    covering = cKDTree(points).query(probe)[0].max()
    assert covering < problem.bound_slack < 1.5 * covering, (covering, problem.bound_slack)


def test_residual_is_the_weighted_sum_of_the_terms():
    weights = dict(surface_weight=7.0, normal_weight=3.0, eikonal_weight=2.0, near_weight=5.0,
                   off_surface_weight=11.0, bound_weight=13.0)
    prob = SDF(sphere_cloud(200), **weights)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    for con in prob.constraints():
        batch = con.sampler(64, torch.Generator().manual_seed(1))
        u = field(model, batch["x"], order=1)
        terms = prob.terms(u, batch, con.name)
        expected = sum(weights[f"{k}_weight"] * v for k, v in terms.items())
        assert con.reduction == "mean" and con.order == 1
        assert torch.allclose(con.residual(u, batch), expected, rtol=1e-6, atol=1e-6)
        assert all(v.shape == (64,) for v in terms.values())


def test_default_weights_are_the_papers():
    prob = SDF(sphere_cloud(50))
    assert prob.weights["surface_weight"] == 3e3
    assert prob.weights["normal_weight"] == 1e2
    assert prob.weights["off_surface_weight"] == 1e2
    assert prob.weights["eikonal_weight"] == 5e1
    assert prob.alpha == 100.0
    assert [c.name for c in prob.constraints()] == ["surface", "near", "off_surface"]


def test_a_zero_share_drops_its_point_set():
    prob = SDF(sphere_cloud(50), shares=(1, 0, 1))
    assert [c.name for c in prob.constraints()] == ["surface", "off_surface"]


def test_samplers_draw_from_the_cloud_and_the_cube(problem):
    surface = batch_of(problem, "surface", 500)
    rows = problem.points.numpy()
    x = surface["x"].numpy()
    # every surface sample is a cloud point with its own normal
    nearest = np.abs(x[:, None, :] - rows[None, :, :]).sum(-1).argmin(1)
    assert np.array_equal(x, rows[nearest])
    assert np.array_equal(surface["normal"].numpy(), problem.normals.numpy()[nearest])
    off = batch_of(problem, "off_surface", 5000)["x"]
    # uniform in the cube [-1, 1]^3: every coordinate reaches within 0.01 of both faces (chance
    # of a gap 0.995^5000 = 1e-11) and never passes them; mean 0 (standard error 0.008) and
    # mean square 1/3 (standard error sqrt(4/45 / 5000) = 0.0042; tolerance 0.02, 4.7 of them)
    assert bool((off.min(0).values < -0.99).all() and (off.max(0).values > 0.99).all())
    assert off.abs().max() <= 1
    assert off.mean(0).abs().max() < 0.05
    assert (off.square().mean(0) - 1 / 3).abs().max() < 0.02
    again = batch_of(problem, "near", 100, seed=3)["x"]
    assert torch.equal(again, batch_of(problem, "near", 100, seed=3)["x"])


def test_reference_is_the_exact_sdf_in_normalised_units(problem):
    x = torch.rand(1000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    exact = (x.double().norm(dim=1) - 0.9).float()
    assert torch.allclose(problem.reference(x)[:, 0], exact, atol=1e-6)


def test_reference_without_an_exact_sdf_raises():
    with pytest.raises(NotImplementedError, match="no exact signed distance"):
        SDF(sphere_cloud(50)).reference(torch.zeros(2, 3))


def test_field_metrics_on_the_exact_sdf(problem):
    m = problem.field_metrics(NormalisedSphere())
    assert m["surface_abs_f"] < 1e-6
    assert m["surface_abs_f_input_units"] == pytest.approx(m["surface_abs_f"] * RADIUS / 0.9)
    assert m["normal_cos"] == pytest.approx(1.0, abs=1e-6)
    assert m["eikonal_error_surface"] < 1e-6 and m["eikonal_error_volume"] < 1e-6
    assert m["sdf_mae_volume"] < 1e-6


def test_mesh_metrics_against_a_reference_mesh():
    """Meshing the exact SDF at 64^3 gives a sphere within the marching-cubes error of the truth:
    exact Chamfer below 1e-3 of the bounding box (cells are 2/63 ~ 0.03 normalised units wide, and
    the chord error of linear interpolation is ~h^2 / (8 r) ~ 1.5e-4)."""
    import trimesh

    truth = trimesh.creation.icosphere(subdivisions=6, radius=RADIUS)
    truth.apply_translation(CENTER)
    prob = SDF(sphere_cloud(), reference_mesh=truth, metrics_resolution=64)
    m = prob.metrics(NormalisedSphere())
    assert m["chamfer_l1_exact"] < 1e-3
    assert m["normal_consistency"] > 0.999
    assert m["fscore"] > 0.99  # with 100k samples their spacing (~0.006) is below the 0.01 threshold
    mesh = prob.mesh(NormalisedSphere(), resolution=32)
    radii = np.linalg.norm(mesh.vertices - CENTER, axis=1)
    assert np.abs(radii - RADIUS).max() < 0.01 * RADIUS  # vertices in the input's units


def test_fields_and_figure(problem, tmp_path):
    f = problem.fields(NormalisedSphere(), size=65)
    assert f["sdf_slice"].shape == (65, 65)
    # centre of the plane is the sphere's centre: value -RADIUS in input units
    assert f["sdf_slice"][32, 32] == pytest.approx(-RADIUS, abs=1e-5)
    assert f["x"][32] == pytest.approx(CENTER[0]) and f["y"][32] == pytest.approx(CENTER[1])
    fig = problem.figure(NormalisedSphere(), {"surface": [1.0, 0.5], "total": [2.0, 1.0]})
    fig.savefig(tmp_path / "f.png", dpi=50)
    # read back: 11 x 4.5 inches at 50 dpi; the slice in the RdBu colour map is blue inside the
    # sphere (most of the plotted plane) and red in its corners, where the SDF is positive
    # (measured: 3.7% and 0.32% of the pixels strongly blue and strongly red; bounds 1% and 0.1%);
    # an empty or one-colour figure fails
    import matplotlib.image

    img = matplotlib.image.imread(tmp_path / "f.png")
    assert img.shape[:2] == (225, 550)
    r, b = img[..., 0], img[..., 2]
    assert ((b > 0.6) & (r < 0.4)).mean() > 0.01 and ((r > 0.6) & (b < 0.4)).mean() > 0.001


def test_built_from_a_path(tmp_path):
    cloud = sphere_cloud(100)
    path = tmp_path / "s.xyz"
    write_xyz(path, cloud.points, cloud.normals)
    prob = SDF(path)
    assert len(prob.points) == len(cloud)
    assert prob.describe()["source"] == str(path)


@pytest.mark.parametrize("kwargs, match", [
    ({"surface_weight": -1.0}, "surface_weight"),
    ({"eikonal_weight": float("nan")}, "eikonal_weight"),
    ({"alpha": 0.0}, "alpha"),
    ({"near_sigma": -0.1}, "near_sigma"),
    ({"bound_slack": float("inf")}, "bound_slack"),
    ({"bound_weight": -2.0}, "bound_weight"),
    ({"shares": (1, 1)}, "shares"),
    ({"shares": (0, 0, 0)}, "shares"),
    ({"metrics_resolution": 1}, "metrics_resolution"),
    ({"reference_sdf": 3.0}, "reference_sdf"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SDF(sphere_cloud(20), **kwargs)


def test_bad_cloud_raises(tmp_path):
    with pytest.raises(ValueError, match="PointCloud or a file path"):
        SDF(np.zeros((10, 6)))
    with pytest.raises(FileNotFoundError):
        SDF(tmp_path / "missing.xyz")


def test_roughness_separates_noisy_from_clean_samplings():
    """Scale-free scatter off the local planes: a clean sphere sampling is far below the noisy
    threshold, the same points with noise of about one spacing far above; units do not matter."""
    from sirenpde.shapes.roughness import NOISY_ROUGHNESS, roughness

    rng = np.random.default_rng(3)
    d = rng.normal(size=(4000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    clean = roughness(d)
    spacing = 2 * math.sqrt(math.pi / 4000)  # ~ mean distance between neighbours on the unit sphere
    noisy = roughness(d + rng.normal(scale=0.5 * spacing, size=d.shape))
    assert clean < 0.5 * NOISY_ROUGHNESS < 2 * NOISY_ROUGHNESS < noisy, (clean, noisy)
    assert roughness(1000 * d + 7) == pytest.approx(clean, rel=1e-6)
    with pytest.raises(ValueError, match="more than k=8 points"):
        roughness(d[:5])
    with pytest.raises(ValueError, match="duplicated points"):
        roughness(np.repeat(d[:100], 5, axis=0))
