"""Mesh-to-mesh metrics against cases with known answers.

Facts used below (distances in unit-cube units of the reference):
- sampling floor: the mean distance from a point to the nearest of N uniform samples on a surface
  of area A is 1 / (2 sqrt(N / A)) (2D Poisson nearest neighbour), so a mesh against itself
  has chamfer_l1 ~= 0.5 * sqrt(A / N), not 0;
- on a sphere, the area within straight-line distance t of a surface point is exactly pi t^2
  (Archimedes: a cap of height h has area 2 pi R h and chord^2 = 2 R h), so the chance that none
  of N samples lies within t of a point is (1 - pi t^2 / A)^N;
- a sample-to-nearest-sample distance is never below the sample-to-surface distance, so
  chamfer_l1 >= chamfer_l1_exact on the same samples.
"""

import numpy as np
import pytest
import trimesh

from sirenpde.shapes.metrics import distance_to_mesh, evaluate_mesh, load_mesh, unit_cube_transform
from _bench import DATA

BUNNY_OBJ = DATA / "bunny.obj"
FLOAT32_ATOL = 1e-6  # open3d computes distances in float32 on coordinates of order 1


def _sphere(radius, subdivisions=5):
    return trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)


def _square(z=0.0):
    """Unit square [-0.5, 0.5]^2 at height z, normal +z: its bounding box's longest side is 1."""
    v = np.array([[-0.5, -0.5, z], [0.5, -0.5, z], [0.5, 0.5, z], [-0.5, 0.5, z]])
    return trimesh.Trimesh(v, [[0, 1, 2], [0, 2, 3]], process=False)


def _floor(mesh, n):
    _, side = unit_cube_transform(mesh)
    return 0.5 * np.sqrt(mesh.area / side**2 / n)


def _plane_ratio(sphere, radius):
    """min over faces of (distance of the face plane from the centre) / radius: below 1 because
    flat facets cut inside the sphere."""
    offsets = np.einsum("ij,ij->i", sphere.face_normals, sphere.vertices[sphere.faces[:, 0]])
    return float(np.min(np.abs(offsets))) / radius


def _miss(mesh, n, t):
    """Chance that no sample of n lies within t of a given point (exact on a sphere)."""
    _, side = unit_cube_transform(mesh)
    return (1 - np.pi * t**2 / (mesh.area / side**2)) ** n


# ----------------------------------------------------------------------------- self-comparison


def test_sphere_against_itself():
    sphere = _sphere(0.5)  # diameter 1: unit-cube units are the mesh's own units
    m = evaluate_mesh(sphere, sphere)  # defaults: 100k samples, threshold 0.01
    assert m["n_samples"] == 100_000 and m["fscore_threshold"] == 0.01
    floor = _floor(sphere, 100_000)  # 0.0028 here
    assert m["chamfer_l1"] == pytest.approx(floor, rel=0.02)
    assert m["chamfer_l1_exact"] < FLOAT32_ATOL
    # Nearest samples lie on the same or an adjacent facet; neighbouring facets of a level-5
    # icosphere differ by about 2 degrees, so |cos| > 0.999 everywhere (and so is their mean).
    # Nor is it 1: a nearest sample on another facet reads cos = 0.99976 on average for adjacent
    # facets (0.99968 at least), and about a third of them are: measured mean 1 - 8.7e-5, bound
    # 1 - 2e-5 (a metric that compared a normal with itself would read 1).
    assert 0.999 < m["normal_consistency"] < 1 - 2e-5
    # miss chance (1 - pi 0.01^2 / pi)^100000 = e^-10: at most a few of 100,000 points unmatched
    assert m["precision"] > 1 - 3e-4 and m["recall"] > 1 - 3e-4 and m["fscore"] > 1 - 3e-4


def test_fscore_is_one_when_the_threshold_is_well_above_the_floor():
    sphere = _sphere(0.5, subdivisions=4)
    m = evaluate_mesh(sphere, sphere, n_samples=20_000, fscore_threshold=0.04)
    assert _miss(sphere, 20_000, 0.04) < 1e-13  # e^-32: expected misses over 40,000 points < 1e-8
    assert m["fscore"] == 1.0 and m["precision"] == 1.0 and m["recall"] == 1.0


def test_precision_and_recall_follow_the_void_probability():
    sphere = _sphere(0.5)
    n, t = 50_000, 0.006
    m = evaluate_mesh(sphere, sphere, n_samples=n, fscore_threshold=t, exact=False)
    expected = 1 - _miss(sphere, n, t)  # ~0.835
    sigma = np.sqrt(expected * (1 - expected) / n)
    assert abs(m["precision"] - expected) < 6 * sigma
    assert abs(m["recall"] - expected) < 6 * sigma
    assert m["fscore"] == pytest.approx(
        2 * m["precision"] * m["recall"] / (m["precision"] + m["recall"]), abs=1e-15)
    assert "chamfer_l1_exact" not in m


@pytest.mark.skipif(not BUNNY_OBJ.exists(), reason="shared data not present")
def test_bunny_against_itself():
    bunny = load_mesh(BUNNY_OBJ)
    m = evaluate_mesh(bunny, bunny)
    assert m["chamfer_l1"] == pytest.approx(_floor(bunny, 100_000), rel=0.02)
    assert m["chamfer_l1_exact"] < FLOAT32_ATOL
    assert m["normal_consistency"] > 0.98
    assert m["fscore"] > 0.999


# ------------------------------------------------------------------------ known separations


def test_concentric_spheres_give_the_gap():
    outer, d = _sphere(0.5), 0.02
    inner = _sphere(0.5 - d)
    # Faces of the two icospheres are parallel (one is a scaled copy of the other), and each is
    # convex, so every exact distance between them lies in [d h, d] with h = _plane_ratio.
    h = _plane_ratio(outer, 0.5)
    assert 0.999 < h < 1
    m = evaluate_mesh(inner, outer, n_samples=50_000)
    assert d * h - FLOAT32_ATOL < m["chamfer_l1_exact"] < d + FLOAT32_ATOL
    assert m["chamfer_l1"] >= m["chamfer_l1_exact"] - FLOAT32_ATOL
    assert m["fscore"] == 0.0  # every distance is at least d h = 0.01998 > 0.01
    assert m["normal_consistency"] > 0.999


def test_the_reference_sets_the_scale():
    """Swapping the roles rescales by the reference's longest side (0.96 instead of 1)."""
    outer, d = _sphere(0.5), 0.02
    inner = _sphere(0.5 - d)
    m = evaluate_mesh(outer, inner, n_samples=20_000)
    h = _plane_ratio(inner, 0.5 - d)
    assert d / 0.96 * h - FLOAT32_ATOL < m["chamfer_l1_exact"] < d / 0.96 + FLOAT32_ATOL


@pytest.mark.parametrize("d, fscore", [(0.05, 0.0), (0.002, 1.0)])
def test_plane_shifted_along_its_normal(d, fscore):
    m = evaluate_mesh(_square(d), _square(0.0), n_samples=100_000)
    assert m["chamfer_l1_exact"] == pytest.approx(d, abs=FLOAT32_ATOL)
    assert m["normal_consistency"] == pytest.approx(1.0, abs=1e-12)
    # d = 0.05: no sample is within 0.01. d = 0.002: a miss needs an empty disc of radius
    # r = sqrt(0.01^2 - d^2) among 100,000 samples on area 1: chance exp(-1e5 pi r^2) = e^-30
    # inside, e^-15 for a half disc on an edge (~4,000 points there), e^-7.5 at the 4 corners;
    # expected misses over both sets < 0.01.
    assert m["fscore"] == fscore


def test_far_shift_gives_zero_fscore():
    sphere = _sphere(0.5, subdivisions=3)
    m = evaluate_mesh(sphere.copy().apply_translation([2.0, 0, 0]), sphere, n_samples=5_000)
    assert m["fscore"] == 0.0 and m["precision"] == 0.0 and m["recall"] == 0.0
    assert m["chamfer_l1_exact"] > 1.0


def test_tilted_plane_normal_consistency_is_the_cosine():
    angle = np.radians(30)
    tilted = _square().apply_transform(trimesh.transformations.rotation_matrix(angle, [1, 0, 0]))
    m = evaluate_mesh(tilted, _square(), n_samples=10_000)
    assert m["normal_consistency"] == pytest.approx(np.cos(angle), abs=1e-12)


def test_normal_consistency_ignores_orientation():
    sphere = _sphere(0.5, subdivisions=4)
    flipped = sphere.copy()
    flipped.invert()
    assert np.allclose(flipped.face_normals, -sphere.face_normals)
    m = evaluate_mesh(flipped, sphere, n_samples=20_000)
    assert m["normal_consistency"] > 0.999  # a signed dot would give about -1
    assert m["chamfer_l1_exact"] < FLOAT32_ATOL


def test_metrics_are_invariant_to_a_common_similarity():
    a, b = _sphere(0.5, subdivisions=3), _sphere(0.45, subdivisions=3).apply_translation([0.03, 0, 0])
    before = evaluate_mesh(a, b, n_samples=10_000, seed=3)
    move = trimesh.transformations.compose_matrix(scale=[7.0] * 3, translate=[10.0, -4.0, 2.0])
    after = evaluate_mesh(a.copy().apply_transform(move), b.copy().apply_transform(move),
                          n_samples=10_000, seed=3)
    for key, value in before.items():
        assert after[key] == pytest.approx(value, rel=1e-6, abs=2 * FLOAT32_ATOL), key


def test_seed_makes_results_repeatable():
    a, b = _sphere(0.5, subdivisions=3), _sphere(0.47, subdivisions=2)
    assert evaluate_mesh(a, b, n_samples=5_000, seed=1) == evaluate_mesh(a, b, n_samples=5_000, seed=1)
    assert evaluate_mesh(a, b, n_samples=5_000, seed=1) != evaluate_mesh(a, b, n_samples=5_000, seed=2)


# -------------------------------------------------------------------------- exact distances


TRIANGLE = (np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), np.array([[0, 1, 2]]))


@pytest.mark.parametrize("engine", ["open3d", "brute"])
def test_distance_to_a_triangle(engine):
    points = [[0.2, 0.2, 0.3], [2, 0, 0], [-1, -1, 0], [0.5, 0.5, 1], [1, 1, 0], [0.1, 0.1, 0]]
    expected = [0.3, 1.0, np.sqrt(2), 1.0, np.sqrt(0.5), 0.0]
    got = distance_to_mesh(points, *TRIANGLE, engine=engine)
    np.testing.assert_allclose(got, expected, rtol=0, atol=FLOAT32_ATOL)


def test_distance_engines_agree_on_a_torus():
    torus = trimesh.creation.torus(major_radius=0.35, minor_radius=0.12)
    points = np.random.default_rng(0).uniform(-0.6, 0.6, size=(400, 3))
    fast = distance_to_mesh(points, torus.vertices, torus.faces, engine="open3d")
    slow = distance_to_mesh(points, torus.vertices, torus.faces, engine="brute")
    np.testing.assert_allclose(fast, slow, rtol=0, atol=FLOAT32_ATOL)


def test_distance_bad_input():
    with pytest.raises(ValueError, match="engine must be"):
        distance_to_mesh(np.zeros((1, 3)), *TRIANGLE, engine="cgal")
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        distance_to_mesh(np.zeros((4, 2)), *TRIANGLE)


# ------------------------------------------------------------------------ loading, validation


@pytest.mark.parametrize("ext", [".obj", ".ply", ".off", ".stl"])
def test_load_mesh_round_trip(tmp_path, ext):
    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    path = tmp_path / f"box{ext}"
    box.export(path)
    mesh = load_mesh(path)
    assert mesh.area == pytest.approx(22.0, rel=1e-6)
    assert mesh.volume == pytest.approx(6.0, rel=1e-6)
    assert evaluate_mesh(path, box, n_samples=2_000)["chamfer_l1_exact"] < FLOAT32_ATOL


def test_load_mesh_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not found: .*nope\.obj"):
        load_mesh(tmp_path / "nope.obj")
    (tmp_path / "mesh.xyz").write_text("0 0 0\n")
    with pytest.raises(ValueError, match=r"mesh\.xyz: unsupported mesh extension '\.xyz'; supported: \.obj"):
        load_mesh(tmp_path / "mesh.xyz")
    (tmp_path / "junk.ply").write_bytes(b"garbage\x00\x01")
    with pytest.raises(ValueError, match=r"junk\.ply: could not be read as a \.ply mesh"):
        load_mesh(tmp_path / "junk.ply")
    (tmp_path / "empty.obj").write_text("")
    with pytest.raises(ValueError, match=r"empty\.obj: the mesh has no triangles"):
        load_mesh(tmp_path / "empty.obj")
    cloud = trimesh.PointCloud(np.random.default_rng(0).normal(size=(10, 3)))
    cloud.export(tmp_path / "cloud.ply")
    with pytest.raises(ValueError, match=r"cloud\.ply: the mesh has no triangles .*point cloud"):
        load_mesh(tmp_path / "cloud.ply")


def test_evaluate_mesh_bad_input():
    sphere = _sphere(0.5, subdivisions=1)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        evaluate_mesh(sphere, sphere, n_samples=0)
    with pytest.raises(ValueError, match="fscore_threshold must be > 0"):
        evaluate_mesh(sphere, sphere, fscore_threshold=0.0)
    with pytest.raises(ValueError, match="reference: expected a triangle mesh"):
        evaluate_mesh(sphere, np.zeros((3, 3)))
    degenerate = trimesh.Trimesh(np.zeros((3, 3)), [[0, 1, 2]], process=False)
    with pytest.raises(ValueError, match="mesh: the mesh has zero surface area"):
        evaluate_mesh(degenerate, sphere)


# ------------------------------------------------------------------------ non-finite, tiny scale


def _nan_sphere(index=5):
    sphere = _sphere(1.0, subdivisions=2)
    v = sphere.vertices.copy()
    v[index] = np.nan
    return trimesh.Trimesh(v, sphere.faces, process=False)


@pytest.mark.parametrize("name, encoding, where", [
    ("nan.obj", None, r"vertex 5 \(line \d+: 'v nan nan nan'\)"),
    ("nan.ply", "ascii", r"vertex 5 \(line 16: 'nan nan nan'\)"),  # 10 header lines, vertex 0 on 11
    ("nan.off", None, r"vertex 5 \(line 8: 'nan nan nan'\)"),  # "OFF", counts, vertex 0 on line 3
    ("bin.ply", "binary", r"vertex 5 \(coordinates \[nan, nan, nan\]\)"),
])
def test_load_mesh_refuses_a_nan_vertex_naming_it(tmp_path, name, encoding, where):
    path = tmp_path / name
    kwargs = {"encoding": encoding} if encoding else {}
    _nan_sphere().export(path, **kwargs)
    with pytest.raises(ValueError, match=rf"{name}: {where} is not finite; 1 vertices have NaN"):
        load_mesh(path)
    # and evaluate refuses it rather than scoring the rest
    with pytest.raises(ValueError, match=rf"{name}: vertex 5"):
        evaluate_mesh(path, _sphere(1.0, subdivisions=2), n_samples=100)


def test_evaluate_refuses_an_in_memory_nan_vertex():
    with pytest.raises(ValueError, match=r"mesh: vertex 7 \[nan, nan, nan\] is not finite"):
        evaluate_mesh(_nan_sphere(7), _sphere(1.0, subdivisions=2), n_samples=100)


@pytest.mark.parametrize("ext", [".ply", ".stl"])  # trimesh writes .off with 10 decimals: 1e-9 is lost
def test_tiny_mesh_is_accepted_and_scored_as_unscaled(tmp_path, ext):
    # a unit sphere scaled by 1e-9 (as reconstruct writes a 1e-9-scale input) against the same
    # reference scaled alike: every score is computed on the unit cube, so they must equal the
    # unscaled scores to the files' float32 rounding (measured 1.3e-7 relative at most)
    mesh, reference = _sphere(1.0, subdivisions=3), _sphere(1.02, subdivisions=4)
    tiny = mesh.copy()
    tiny.apply_scale(1e-9)
    path = tmp_path / f"tiny{ext}"
    tiny.export(path)
    loaded = load_mesh(path)
    assert len(loaded.faces) == len(mesh.faces)
    assert loaded.area == pytest.approx(mesh.area * 1e-18, rel=1e-6)
    small_ref = reference.copy()
    small_ref.apply_scale(1e-9)
    got = evaluate_mesh(loaded, small_ref, n_samples=5_000)
    want = evaluate_mesh(mesh, reference, n_samples=5_000)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key


def test_zero_area_is_relative_to_size():
    # collinear triangles at 1e-9 scale still have no area relative to their size
    flat = trimesh.Trimesh(1e-9 * np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0.0]]), [[0, 1, 2]],
                           process=False)
    with pytest.raises(ValueError, match="mesh: the mesh has zero surface area"):
        evaluate_mesh(flat, _sphere(1.0, subdivisions=1))
