"""Sampling oriented points on a mesh and adding noise to them."""
import numpy as np
import pytest
import trimesh

from sirenpde.shapes.pointcloud import add_noise, sample_surface


def test_sample_surface_on_a_box_is_area_uniform_and_reproducible():
    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    n = 60_000
    cloud = sample_surface(box, n, seed=11)
    # every point lies on the box surface, normals are the axis of the face it lies on
    half = np.array([0.5, 1.0, 1.5])
    on_face = np.isclose(np.abs(cloud.points), half, atol=1e-12)
    assert on_face.any(axis=1).all() and (np.abs(cloud.points) <= half + 1e-12).all()
    axis = np.abs(cloud.normals).argmax(axis=1)
    assert on_face[np.arange(n), axis].all()
    np.testing.assert_allclose(np.abs(cloud.normals).max(axis=1), 1.0, atol=1e-12)
    # share on each pair of faces = its area share (yz: 6, xz: 3, xy: 2 of 11), binomial 5 sigma
    expected = np.array([6.0, 3.0, 2.0]) / 11
    share = np.bincount(axis, minlength=3) / n
    assert np.all(np.abs(share - expected) < 5 * np.sqrt(expected * (1 - expected) / n))
    again = sample_surface(box, n, seed=11)
    np.testing.assert_array_equal(again.points, cloud.points)
    assert not np.array_equal(sample_surface(box, n, seed=12).points, cloud.points)


def test_sample_surface_is_uniform_within_a_triangle():
    tri = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], process=False)
    p = sample_surface(tri, 40_000, seed=0).points
    assert (p[:, 0] >= 0).all() and (p[:, 1] >= 0).all() and (p.sum(1) <= 1 + 1e-12).all()
    # uniform on the triangle: E[x] = E[y] = 1/3, Var[x] = 1/18; 5-sigma bound on the mean
    np.testing.assert_allclose(p[:, :2].mean(0), 1 / 3, atol=5 * np.sqrt(1 / 18 / 40_000))


def test_sample_surface_bad_input():
    with pytest.raises(TypeError, match="trimesh.Trimesh"):
        sample_surface(np.zeros((3, 3)), 10)
    with pytest.raises(ValueError, match="positive integer"):
        sample_surface(trimesh.creation.box(), 0)
    with pytest.raises(ValueError, match="positive area"):
        sample_surface(trimesh.Trimesh(np.zeros((3, 3)), [[0, 1, 2]], process=False), 5)


def test_add_noise():
    cloud = sample_surface(trimesh.creation.icosphere(3), 20_000, seed=0)
    same = add_noise(cloud, 0.0, 0.0, seed=1)
    np.testing.assert_array_equal(same.points, cloud.points)
    np.testing.assert_allclose(same.normals, cloud.normals, atol=1e-15)
    noisy = add_noise(cloud, position_sigma=0.01, normal_sigma=0.1, seed=1)
    # sample std of 60,000 normal draws is within 2% of sigma with overwhelming probability
    assert np.std(noisy.points - cloud.points) == pytest.approx(0.01, rel=0.02)
    np.testing.assert_allclose(np.linalg.norm(noisy.normals, axis=1), 1.0, atol=1e-12)
    cos = np.einsum("ij,ij->i", noisy.normals, cloud.normals)
    assert 0.95 < cos.mean() < 0.999  # perturbed, but still close
    np.testing.assert_array_equal(add_noise(cloud, 0.01, 0.1, seed=1).points, noisy.points)
    with pytest.raises(ValueError, match="position_sigma must be finite and >= 0"):
        add_noise(cloud, position_sigma=-1.0)
