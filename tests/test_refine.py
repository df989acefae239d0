"""The refinement of a fitted mesh onto its cloud (sirenpde.shapes.refine): on analytic shapes it
lowers the exact distance to the surface, never moves a vertex past its limit, leaves vertices with no
data near alone, and reconstruct applies it to dense clean clouds only."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh
from _shapes import CENTER, MINOR, RADIUS, sphere_cloud, torus_sdf, true_sphere

from sirenpde.shapes.pointcloud import PointCloud, add_noise, sample_surface
from sirenpde.shapes.refine import local_spacing, project, refine_mesh


def bumpy(mesh: trimesh.Trimesh, amplitude: float, seed: int = 0) -> trimesh.Trimesh:
    """``mesh`` with each vertex pushed along its normal by a smooth wave of ``amplitude``: a stand-in
    for a fit that misses the surface by a fraction of the point spacing, as a SIREN does."""
    v, n = np.asarray(mesh.vertices), np.asarray(mesh.vertex_normals)
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, 3)
    wave = np.sin(3 * (v - CENTER) / RADIUS + phase).prod(axis=1)
    return trimesh.Trimesh(v + amplitude * wave[:, None] * n, mesh.faces, process=False)


def sphere_error(vertices) -> np.ndarray:
    return np.abs(np.linalg.norm(vertices - CENTER, axis=1) - RADIUS)


def test_on_a_sphere_the_vertices_move_onto_the_surface_within_their_limit():
    cloud = sphere_cloud(50_000)
    from scipy.spatial import cKDTree

    spacing = float(np.median(local_spacing(cKDTree(cloud.points), cloud.points)))
    fitted = bumpy(true_sphere(), 0.5 * spacing)
    before = sphere_error(fitted.vertices)
    out, stats = refine_mesh(fitted, cloud)
    after = sphere_error(out.vertices)
    # exact distance to the sphere: 0.12 spacing on average before, below 0.02 after (measured 0.0039)
    assert before.mean() > 0.1 * spacing and after.mean() < 0.02 * spacing
    assert after.max() < 0.5 * before.max()
    assert stats["moved"] == len(fitted.vertices) and stats["held"] == 0
    assert stats["max_move_spacings"] <= stats["limit"] + 1e-9
    assert np.array_equal(out.faces, fitted.faces)


def test_on_a_torus_the_exact_distance_drops_and_no_vertex_moves_past_its_limit():
    reference = trimesh.creation.torus(major_radius=RADIUS, minor_radius=MINOR, major_sections=160,
                                       minor_sections=64)
    reference.apply_translation(CENTER)
    cloud = sample_surface(reference, 60_000, seed=1)
    fitted = bumpy(reference, 0.01)
    limit = 0.5
    out, stats = refine_mesh(fitted, cloud, limit=limit)
    before, after = np.abs(torus_sdf(fitted.vertices)), np.abs(torus_sdf(out.vertices))
    assert after.mean() < 0.05 * before.mean()  # measured 0.0014 (2.4e-3 -> 3.5e-6)
    # every move against its own vertex's bound: limit x the spacing at its nearest cloud point
    from scipy.spatial import cKDTree

    tree = cKDTree(cloud.points)
    spacing = local_spacing(tree, cloud.points)[tree.query(fitted.vertices)[1]]
    move = np.linalg.norm(out.vertices - fitted.vertices, axis=1)
    assert np.all(move <= limit * spacing * (1 + 1e-9))
    assert stats["clamped"] > 0  # the limit was reached, and held


def test_a_limit_of_zero_moves_nothing_and_vertices_far_from_the_data_stay():
    cloud = sphere_cloud(5_000)
    mesh = bumpy(true_sphere(), 0.02)
    still, stats = refine_mesh(mesh, cloud, limit=0.0)
    assert np.array_equal(still.vertices, mesh.vertices) and stats["mean_move"] == 0.0
    # a cap of the sphere without points: its vertices are not pulled across the gap
    keep = cloud.points[:, 2] - CENTER[2] < 0.5 * RADIUS
    holed = PointCloud(cloud.points[keep], cloud.normals[keep], "sphere with a hole")
    out, stats = refine_mesh(mesh, holed)
    far = mesh.vertices[:, 2] - CENTER[2] > 0.8 * RADIUS
    assert stats["held"] >= far.sum() > 0
    assert np.array_equal(out.vertices[far], mesh.vertices[far])


def test_the_steps_follow_the_refinement_that_will_follow():
    """Refined, a dense clean cloud needs half the default steps; fit_sdf alone (then mesh_shape, or
    reconstruct --refine none) is not refined, so it keeps the unrefined count."""
    from sirenpde.shapes.recipe import choose_recipe, recipe_line

    planned = choose_recipe(50_000, 0.06, "default")
    alone = choose_recipe(50_000, 0.06, "default", "none")
    assert (planned.steps, planned.refine) == (200, "detail") and (alone.steps, alone.refine) == (400, None)
    assert choose_recipe(50_000, 0.5, "default", "detail").refine == "detail"  # asked for, it is planned
    meta = {"recipe": planned.to_dict(), "points": 50_000}
    assert "refined" not in recipe_line(meta)  # planned is not done: the line says what ran
    meta["refine"] = {"mode": "detail"}
    assert recipe_line(meta).endswith("mesh refined onto the cloud (detail)")
    with pytest.raises(ValueError, match="refine must be one of"):
        choose_recipe(50_000, 0.06, "default", "on")


def test_bad_options_are_refused():
    cloud = sphere_cloud(100)
    with pytest.raises(ValueError, match="limit must be >= 0"):
        project(cloud.points, cloud.points, cloud.normals, limit=-1)
    with pytest.raises(ValueError, match="at least 2 points"):
        project(cloud.points, cloud.points[:1], cloud.normals[:1])


def test_on_a_noisy_cloud_smooth_averages_the_noise_where_detail_would_follow_it():
    """A sphere's cloud with positions scattered by 1% of its radius (about a spacing): projecting the
    exact sphere onto it with the detail weights pulls the vertices off the surface, towards single
    noisy points; the smooth weights average some twenty of them and stay much closer."""
    cloud = add_noise(sphere_cloud(50_000), 0.01 * RADIUS, 0.1, seed=2)
    mesh = true_sphere()
    detail, _ = refine_mesh(mesh, cloud, "detail")
    smooth, stats = refine_mesh(mesh, cloud, "smooth")
    assert stats["mode"] == "smooth" and stats["k"] == 24
    off_detail, off_smooth = sphere_error(detail.vertices).mean(), sphere_error(smooth.vertices).mean()
    assert off_smooth < 0.6 * off_detail  # measured 0.0034 against 0.0083 (radius 2)
    with pytest.raises(ValueError, match="mode must be one of detail, smooth"):
        refine_mesh(mesh, cloud, "sharpen")


@pytest.mark.parametrize("kind, mode", [("clean", "detail"), ("noisy", "smooth"), ("sparse", None)])
def test_reconstruct_chooses_the_refinement_from_the_cloud(tmp_path, kind, mode, one_thread):
    """Detail onto a dense clean cloud; never detail onto a noisy one (smooth, which averages, onto a
    dense noisy one); nothing onto a sparse one."""
    from sirenpde.shapes.fit import reconstruct

    cloud = sphere_cloud(5_000 if kind == "sparse" else 25_000, seed=3)
    if kind == "noisy":
        cloud = add_noise(cloud, 0.01 * RADIUS, 0.1, seed=4)
    kw = dict(steps=5, resolution=32, progress=False, preview=False, hidden_features=16, hidden_layers=1,
              batch_size=500, device="cpu")
    res = reconstruct(cloud, tmp_path / "s.ply", **kw)
    meta = res.model.metadata
    assert meta["recipe"]["capacity"] == {"clean": "dense and clean", "noisy": "noisy", "sparse": "sparse"}[kind]
    assert meta["recipe"]["refine"] == mode
    assert (meta["refine"] is None) == (mode is None) and (mode is None or meta["refine"]["mode"] == mode)
    # asked for explicitly, it is done (or not) and recorded
    other = "none" if mode else "detail"
    res2 = reconstruct(cloud, tmp_path / "t.ply", refine=other, **kw)
    assert res2.model.metadata["recipe"]["refine"] == (None if other == "none" else other)
    assert np.array_equal(res.mesh.faces, res2.mesh.faces)  # the same fit (same seed), meshed alike
    assert not np.array_equal(res.mesh.vertices, res2.mesh.vertices)
    with pytest.raises(ValueError, match="refine must be one of"):
        reconstruct(cloud, tmp_path / "u.ply", refine="on", **kw)
