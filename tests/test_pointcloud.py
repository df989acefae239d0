"""Reading, validating, normalising and writing oriented point clouds."""
import json
import re
import warnings

import numpy as np
import pytest
import trimesh

from sirenpde.shapes.pointcloud import (
    Normalization,
    PointCloud,
    estimate_normals,
    read_point_cloud,
    write_xyz,
)
from _bench import DATA

BUNNY_XYZ = DATA / "bunny_50k.xyz"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _sphere_cloud(n=3000, radius=1.0, center=(0.0, 0.0, 0.0), seed=0):
    """Uniform points on a sphere with exact outward normals."""
    v = np.random.default_rng(seed).normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(center) + radius * v, v


GOOD = "0 0 0 0 0 1\n1 0 0 0 0 1\n0 1 0 0 0 1\n"


# ----------------------------------------------------------------------------- .xyz parsing


def test_xyz_reads_six_columns_with_comments_and_blank_lines(tmp_path):
    path = _write(tmp_path, "ok.xyz", "# header\n\n1 2 3 0 0 2\n  4 5 6 0 -3 0  # inline\n\n")
    cloud = read_point_cloud(path)
    np.testing.assert_array_equal(cloud.points, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(cloud.normals, [[0, 0, 1], [0, -1, 0]])  # scaled to unit length
    assert cloud.points.dtype == np.float64 and cloud.source == str(path) and len(cloud) == 2


def test_xyz_single_row(tmp_path):
    cloud = read_point_cloud(_write(tmp_path, "one.xyz", "1 2 3 -2 0 0"))
    np.testing.assert_array_equal(cloud.points, [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(cloud.normals, [[-1.0, 0.0, 0.0]])  # scaled to unit length


@pytest.mark.parametrize("text, line, pattern", [
    ("0 0 0 0 0 1\n1 0 0 0 0\n", 2, "found 5 columns, expected 6 like line 1.*same count"),
    ("# c\n0 0 0 0\n", 2, "found 4 columns, expected 3 .* or 6 .*same count"),
    ("0 0 0\n\n0 0 0 0 0 1\n", 3, "found 6 columns, expected 3 like line 1"),
])
def test_xyz_wrong_column_count(tmp_path, text, line, pattern):
    path = _write(tmp_path, "cols.xyz", text)
    with pytest.raises(ValueError, match=rf"cols\.xyz, line {line}: {pattern}"):
        read_point_cloud(path)


@pytest.mark.parametrize("token", ["abc", "1,5", "1_0", "0x10"])
def test_xyz_non_number_token(tmp_path, token):
    path = _write(tmp_path, "tok.xyz", f"# c\n{GOOD}\n1 2 {token} 0 0 1\n")
    pattern = rf"tok\.xyz, line 6, column 3 \(z\): '{re.escape(token)}' is not a number"
    with pytest.raises(ValueError, match=pattern):
        read_point_cloud(path)


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_xyz_non_finite_coordinate(tmp_path, token):
    path = _write(tmp_path, "nf.xyz", f"{GOOD}0 {token} 0 0 0 1\n")
    with pytest.raises(ValueError, match=rf"nf\.xyz, line 4: y is '{token}'; coordinates must be finite"):
        read_point_cloud(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n   \n"])
def test_xyz_empty_file(tmp_path, text):
    path = _write(tmp_path, "empty.xyz", text)
    with pytest.raises(ValueError, match=r"empty\.xyz: no points"):
        read_point_cloud(path)


def test_binary_file_with_xyz_extension(tmp_path):
    path = tmp_path / "bin.xyz"
    path.write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(ValueError, match=r"bin\.xyz: not a text \.xyz file"):
        read_point_cloud(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not found: .*nothere\.xyz"):
        read_point_cloud(tmp_path / "nothere.xyz")


def test_unknown_extension(tmp_path):
    path = _write(tmp_path, "cloud.txt", GOOD)
    pattern = r"cloud\.txt: unsupported .*'\.txt'.*supported: \.xyz, \.ply, \.pcd"
    with pytest.raises(ValueError, match=pattern):
        read_point_cloud(path)


def test_unknown_normals_policy(tmp_path):
    with pytest.raises(ValueError, match="normals must be one of"):
        read_point_cloud(_write(tmp_path, "a.xyz", GOOD), normals="fix")


# ------------------------------------------------------------------------------ bad normals


def _sphere_file_with_bad_normals(tmp_path, bad_rows, bad_text="0 0 0"):
    points, normals = _sphere_cloud(n=2000, seed=3)
    lines = ["# sphere with some bad normals"]
    for i, (p, nrm) in enumerate(zip(points, normals)):
        n_text = bad_text if i in bad_rows else " ".join(repr(float(x)) for x in nrm)
        lines.append(" ".join(repr(float(x)) for x in p) + " " + n_text)
    return _write(tmp_path, "bad_normals.xyz", "\n".join(lines) + "\n"), points, normals


def test_zero_normals_error_lists_count_and_lines(tmp_path):
    path, _, _ = _sphere_file_with_bad_normals(tmp_path, {4, 10, 11})
    # data row i sits on line i + 2 (a comment line comes first)
    with pytest.raises(ValueError, match=r"bad_normals\.xyz: 3 of 2000 points have zero-length or "
                                         r"non-finite normals \(lines 6, 12, 13\).*'drop'.*'estimate'"):
        read_point_cloud(path)


def test_nan_normal_is_a_bad_normal_not_a_parse_error(tmp_path):
    path, _, _ = _sphere_file_with_bad_normals(tmp_path, {0}, bad_text="nan 0 1")
    with pytest.raises(ValueError, match=r"1 of 2000 points .*\(lines 2\)"):
        read_point_cloud(path)


def test_error_lists_at_most_five_lines(tmp_path):
    path, _, _ = _sphere_file_with_bad_normals(tmp_path, set(range(7)))
    with pytest.raises(ValueError, match=r"7 of 2000 .*\(lines 2, 3, 4, 5, 6, \.\.\.\)"):
        read_point_cloud(path)


def test_zero_normals_drop(tmp_path):
    bad = {4, 10, 11}
    path, points, normals = _sphere_file_with_bad_normals(tmp_path, bad)
    with pytest.warns(UserWarning, match=r"dropped 3 of 2000 points .*lines 6, 12, 13"):
        cloud = read_point_cloud(path, normals="drop")
    keep = np.array([i not in bad for i in range(2000)])
    np.testing.assert_array_equal(cloud.points, points[keep])  # repr() round-trips float64
    np.testing.assert_allclose(cloud.normals, normals[keep], atol=1e-15)


def test_drop_everything_is_an_error(tmp_path):
    path = _write(tmp_path, "allzero.xyz", "0 0 0 0 0 0\n1 0 0 0 0 0\n")
    with pytest.raises(ValueError, match=r"2 of 2 .*would leave no points"):
        read_point_cloud(path, normals="drop")


def test_zero_normals_estimate_from_neighbours(tmp_path):
    bad = set(range(0, 2000, 97))
    path, points, normals = _sphere_file_with_bad_normals(tmp_path, bad)
    with pytest.warns(UserWarning, match=rf"re-estimated normals .* for {len(bad)} of 2000 points"):
        cloud = read_point_cloud(path, normals="estimate")
    rows = sorted(bad)
    # PCA normals of a sphere patch of ~30 neighbours are radial to well within 1 degree here
    assert np.einsum("ij,ij->i", cloud.normals[rows], normals[rows]).min() > 0.99
    keep = [i for i in range(2000) if i not in bad]
    np.testing.assert_allclose(cloud.normals[keep], normals[keep], atol=1e-15)


def test_zero_normals_estimate_keeps_inward_orientation_of_neighbours(tmp_path):
    """Given normals that point inward win over the outward default."""
    points, normals = _sphere_cloud(n=2000, seed=5)
    normals = -normals
    normals[[3, 50]] = 0.0
    path = tmp_path / "inward.xyz"
    write_xyz(path, points, normals)
    with pytest.warns(UserWarning, match="re-estimated"):
        cloud = read_point_cloud(path, normals="estimate")
    assert np.einsum("ij,ij->i", cloud.normals[[3, 50]], -points[[3, 50]]).min() > 0.99


# -------------------------------------------------------------------------- missing normals


def test_three_columns_estimates_outward_normals_with_warning(tmp_path):
    # Off the origin, so "outward" must use the centroid. Exactly cospherical points also make
    # open3d's Qhull step fail, which exercises the jittered retry.
    center = np.array([5.0, -3.0, 2.0])
    points, radial = _sphere_cloud(n=3000, radius=2.0, center=center, seed=1)
    path = tmp_path / "xyz_only.xyz"
    write_xyz(path, points)
    assert len(path.read_text().split("\n")[0].split()) == 3
    with pytest.warns(UserWarning, match=r"no normals; estimated .* oriented .*may be wrong for open scans"):
        cloud = read_point_cloud(path)
    dots = np.einsum("ij,ij->i", cloud.normals, radial)
    # signed: every normal outward. Measured min 0.99825 (3.4 degrees), mean 0.99986; the
    # bounds allow about 8 degrees at worst and 10x the mean's measured deviation
    assert dots.min() > 0.99 and dots.mean() > 0.9985, (dots.min(), dots.mean())


def test_three_columns_without_estimation_is_an_error(tmp_path):
    path = _write(tmp_path, "bare.xyz", "0 0 0\n1 0 0\n0 1 0\n")
    with pytest.raises(ValueError, match=r"bare\.xyz: the file has no normals"):
        read_point_cloud(path, estimate_missing=False)


def test_estimate_normals_are_outward_and_unit():
    points, radial = _sphere_cloud(n=1500, seed=2)
    normals = estimate_normals(points, knn=20)
    # signed (estimate_normals orients outward): measured min 0.99608 (5.1 degrees), mean 0.99963;
    # the bounds allow about 8 degrees at worst and 4x the mean's measured deviation
    dots = np.einsum("ij,ij->i", normals, radial)
    assert dots.min() > 0.99 and dots.mean() > 0.9985, (dots.min(), dots.mean())
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-12)


def test_estimate_normals_needs_points():
    with pytest.raises(ValueError, match="at least 4 points"):
        estimate_normals(np.zeros((3, 3)))


# ------------------------------------------------------------------------------ .ply / .pcd


@pytest.mark.parametrize("ext", [".ply", ".pcd"])
def test_open3d_round_trip(tmp_path, ext):
    import open3d as o3d

    points, normals = _sphere_cloud(n=500, seed=4)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pcd.normals = o3d.utility.Vector3dVector(normals)
    path = tmp_path / f"cloud{ext}"
    assert o3d.io.write_point_cloud(str(path), pcd)
    cloud = read_point_cloud(path)
    # open3d may store float32 on disk: allow single-precision rounding
    np.testing.assert_allclose(cloud.points, points, atol=1e-6)
    np.testing.assert_allclose(cloud.normals, normals, atol=1e-6)


@pytest.mark.parametrize("ext", [".ply", ".pcd"])
def test_open3d_without_normals_estimates_them(tmp_path, ext):
    import open3d as o3d

    points, radial = _sphere_cloud(n=1500, seed=6)
    path = tmp_path / f"bare{ext}"
    assert o3d.io.write_point_cloud(str(path), o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points)))
    with pytest.warns(UserWarning, match="no normals; estimated"):
        cloud = read_point_cloud(path)
    assert np.einsum("ij,ij->i", cloud.normals, radial).mean() > 0.95


def test_open3d_zero_normals_name_point_indices(tmp_path):
    import open3d as o3d

    points, normals = _sphere_cloud(n=200, seed=7)
    normals[[2, 9]] = 0.0
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pcd.normals = o3d.utility.Vector3dVector(normals)
    path = tmp_path / "zeros.ply"
    o3d.io.write_point_cloud(str(path), pcd)
    with pytest.raises(ValueError, match=r"zeros\.ply: 2 of 200 .*point indices 2, 9, 0-based"):
        read_point_cloud(path)


@pytest.mark.parametrize("name, content", [("junk.ply", b"not a ply at all\n"), ("empty.pcd", b"")])
def test_open3d_unreadable_or_empty(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"{re.escape(name)}: no points read"):
        read_point_cloud(path)


# ---------------------------------------------------------------------------- normalisation


def test_normalization_fit_maps_bbox_into_margin():
    points = np.random.default_rng(0).uniform([-3, 10, 0], [5, 11, 0.5], size=(1000, 3))
    norm = Normalization.fit(points)
    x = norm.apply(points)
    low, high = points.min(0), points.max(0)
    np.testing.assert_allclose(norm.center, (low + high) / 2, rtol=0, atol=1e-15)
    # largest extent (x axis) maps exactly onto [-0.9, 0.9]; the others are centred inside it
    np.testing.assert_allclose([x[:, 0].min(), x[:, 0].max()], [-0.9, 0.9], atol=1e-12)
    np.testing.assert_allclose(x.min(0)[1:], -x.max(0)[1:], atol=1e-12)
    assert np.abs(x).max() <= 0.9 + 1e-12
    assert Normalization.fit(points, margin=0.5).apply(points)[:, 0].max() == pytest.approx(0.5, abs=1e-12)


def test_normalization_round_trip_and_matrix():
    rng = np.random.default_rng(1)
    norm = Normalization(center=rng.normal(size=3) * 100, scale=37.5)
    points = rng.normal(size=(500, 3)) * 50
    np.testing.assert_allclose(norm.invert(norm.apply(points)), points, rtol=0, atol=1e-12)
    x = rng.uniform(-1, 1, size=(500, 3))
    homogeneous = np.hstack([x, np.ones((500, 1))]) @ norm.matrix.T
    np.testing.assert_allclose(homogeneous[:, :3], norm.invert(x), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(homogeneous[:, 3], 1.0)
    np.testing.assert_allclose(trimesh.transform_points(x, norm.matrix), norm.invert(x), atol=1e-12)


def test_normalization_dict_round_trip_is_plain_and_torch_safe(tmp_path):
    import torch

    norm = Normalization.fit(np.random.default_rng(2).normal(size=(100, 3)))
    d = norm.to_dict()
    assert json.loads(json.dumps(d)) == d  # plain floats and lists only
    path = tmp_path / "norm.pt"
    torch.save({"normalization": d}, path)
    back = Normalization.from_dict(torch.load(path, weights_only=True)["normalization"])
    np.testing.assert_array_equal(back.center, norm.center)
    assert back.scale == norm.scale


@pytest.mark.parametrize("kwargs, pattern", [
    ({"center": [0, 0], "scale": 1.0}, "center must be 3 finite"),
    ({"center": [0, np.nan, 0], "scale": 1.0}, "center must be 3 finite"),
    ({"center": [0, 0, 0], "scale": 0.0}, "scale must be finite and > 0"),
    ({"center": [0, 0, 0], "scale": -2.0}, "scale must be finite and > 0"),
])
def test_normalization_validates_itself(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Normalization(**kwargs)


def test_normalization_bad_input():
    with pytest.raises(ValueError, match="coincide"):
        Normalization.fit(np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        Normalization.fit(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"lacks \['scale'\]"):
        Normalization.from_dict({"center": [0, 0, 0]})


# -------------------------------------------------------------------------- PointCloud, I/O


@pytest.mark.parametrize("points, normals, pattern", [
    (np.zeros((4, 2)), np.ones((4, 2)), r"points must have shape \(n, 3\)"),
    (np.zeros((4, 3)), np.ones((3, 3)), r"normals must have the shape of points"),
    (np.zeros((0, 3)), np.ones((0, 3)), "no points"),
    (np.array([[0, np.inf, 0]]), np.ones((1, 3)), "1 points have non-finite coordinates"),
    (np.zeros((2, 3)), np.array([[0, 0, 1], [0, 0, 0]]), r"1 normals are zero-length .*indices 1"),
])
def test_pointcloud_validates_itself(points, normals, pattern):
    with pytest.raises(ValueError, match=pattern):
        PointCloud(points, normals, source="test")


def test_write_xyz_round_trip_is_exact_and_atomic(tmp_path):
    points, normals = _sphere_cloud(n=300, seed=8)
    path = tmp_path / "sub" / "out.xyz"
    write_xyz(path, points * 1e3 + 1 / 3, normals)
    cloud = read_point_cloud(path)
    np.testing.assert_array_equal(cloud.points, points * 1e3 + 1 / 3)
    np.testing.assert_allclose(cloud.normals, normals, rtol=0, atol=1e-15)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.xyz"]  # no temporary left behind


def test_write_xyz_rejects_bad_input_and_leaves_nothing(tmp_path):
    path = tmp_path / "bad.xyz"
    with pytest.raises(ValueError, match="finite"):
        write_xyz(path, [[0, 0, np.nan]])
    with pytest.raises(ValueError, match="must match"):
        write_xyz(path, np.zeros((3, 3)), np.zeros((2, 3)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not BUNNY_XYZ.exists(), reason="shared data not present")
def test_real_bunny_file():
    cloud = read_point_cloud(BUNNY_XYZ)
    assert cloud.points.shape == (50_000, 3)
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, atol=1e-12)
    norm = Normalization.fit(cloud.points)
    assert np.abs(norm.apply(cloud.points)).max() == pytest.approx(0.9, abs=1e-12)


def test_no_warning_for_a_clean_file(tmp_path):
    path = _write(tmp_path, "clean.xyz", GOOD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_point_cloud(path)
