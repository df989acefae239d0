"""Geometry of sirenpde.meshing against closed forms, single-pass marching cubes and itself."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from sirenpde.meshing import Box, Sphere, Torus, extract_mesh
from sirenpde.meshing.grid import Grid

CUBE = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


def both(sdf, resolution, chunk_size=16, bounds=CUBE, **kw):
    """Dense and sparse meshes of the same sdf; they must be identical arrays."""
    kw.update(chunk_size=chunk_size, progress=False)
    return (extract_mesh(sdf, bounds, resolution, method="dense", **kw),
            extract_mesh(sdf, bounds, resolution, method="sparse", **kw))


def assert_same_mesh(a, b):
    assert a.vertices.shape == b.vertices.shape and a.faces.shape == b.faces.shape
    assert np.array_equal(a.vertices, b.vertices)
    assert np.array_equal(a.faces, b.faces)


def spacing(resolution, bounds=CUBE):
    return (bounds[1][0] - bounds[0][0]) / (resolution - 1)


@pytest.mark.parametrize("shape, curvature_radius, euler", [
    (Sphere(0.61, center=(0.03, -0.02, 0.01)), 0.61, 2),
    (Torus(0.5, 0.2, center=(0.01, 0.02, -0.015)), 0.2, 0),
])
def test_smooth_shapes_converge_at_second_order(shape, curvature_radius, euler):
    # Vertices are linear interpolants of a smooth function, so the mesh is O(h^2) from the
    # surface: relative area and volume errors are bounded by C (h / r)^2 with r the smallest
    # radius of curvature. C = 1 holds with margin (measured about 0.6 for the sphere, 0.2 for the torus).
    errors = []
    for res in (33, 65):
        dense, sparse = both(shape, res)
        assert_same_mesh(dense, sparse)
        assert dense.is_watertight and dense.is_winding_consistent
        assert dense.euler_number == euler
        assert dense.volume > 0  # outward faces for an sdf negative inside
        bound = (spacing(res) / curvature_radius) ** 2
        area_err = abs(dense.area / shape.area - 1)
        vol_err = abs(dense.volume / shape.volume - 1)
        assert area_err < bound and vol_err < bound, (res, area_err, vol_err, bound)
        assert sparse.metadata["evaluations"] < dense.metadata["evaluations"] == res ** 3
        errors.append((area_err, vol_err))
    # halving h must cut the errors by about 4; accept anything better than 1/2.5
    assert errors[1][0] < errors[0][0] / 2.5 and errors[1][1] < errors[0][1] / 2.5


def test_box_converges():
    # Marching cubes chamfers the box's edges by about a cell: the area error is O(h) times the
    # edge length (bound: h * L / A), the volume error O(h^2) times it (bound: h^2 * L / V).
    box = Box((0.5, 0.4, 0.3), center=(0.011, 0.023, 0.031))
    edges = 8 * sum(box.half)
    errors = []
    for res in (33, 65):
        dense, sparse = both(box, res)
        assert_same_mesh(dense, sparse)
        assert dense.is_watertight and dense.euler_number == 2 and dense.volume > 0
        h = spacing(res)
        area_err = abs(dense.area / box.area - 1)
        vol_err = abs(dense.volume / box.volume - 1)
        assert area_err < h * edges / box.area, (res, area_err)
        assert vol_err < h ** 2 * edges / box.volume, (res, vol_err)
        errors.append((area_err, vol_err))
    assert errors[1][0] < errors[0][0] and errors[1][1] < errors[0][1]


def wavy(x):
    """A bumpy closed surface (Lipschitz constant below 1.5) that no block boundary avoids."""
    r = np.sqrt(((x - [0.02, -0.03, 0.01]) ** 2).sum(-1))
    return r - 0.62 + 0.04 * np.sin(7 * x[:, 0]) * np.cos(5 * x[:, 1]) + 0.03 * np.sin(9 * x[:, 2] + 1)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_blocks_have_no_seams_and_equal_one_skimage_pass(method):
    res, chunk = 41, 5  # 8 x 8 x 8 blocks of 5 cells; the surface crosses block faces everywhere
    mesh = extract_mesh(wavy, CUBE, res, method=method, chunk_size=chunk, progress=False)
    assert mesh.metadata["blocks_meshed"] > 100
    assert mesh.metadata["welded_vertices"] == 0  # no sample sits on the level: exact comparison
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.euler_number == 2

    grid = Grid(np.array(CUBE[0]), np.array(CUBE[1]), (res, res, res))
    idx = np.stack(np.meshgrid(*[np.arange(res)] * 3, indexing="ij"), -1).reshape(-1, 3)
    volume = wavy(grid.points(idx)).astype(np.float32).reshape(res, res, res)
    verts, faces, _, _ = marching_cubes(volume, 0.0)
    assert len(mesh.faces) == len(faces) and len(mesh.vertices) == len(verts)
    # every single-pass vertex has exactly one counterpart (scikit-image rounds to float32)
    dist, match = cKDTree(mesh.vertices).query(grid.points(verts.astype(np.float64)))
    assert dist.max() < 1e-5 * spacing(res)
    assert len(np.unique(match)) == len(verts)

    def canonical(f):
        f = np.asarray(f)
        r = np.argmin(f, axis=1)[:, None]
        return {tuple(row) for row in np.take_along_axis(f, (r + np.arange(3)) % 3, axis=1)}

    assert canonical(match[faces]) == canonical(mesh.faces)  # same triangles, same orientation


def lookup(volume):
    """An 'sdf' that returns stored samples: on bounds (0, shape - 1) the grid points are integers."""
    return lambda x: volume[tuple(np.rint(x).astype(int).T)]


@pytest.mark.parametrize("ties", [False, True])
def test_noise_exercises_every_marching_cubes_case(ties):
    # Random samples hit every Lewiner configuration, including the ones that add a vertex
    # inside the cell; with ties, many samples sit exactly on the level.
    rng = np.random.default_rng(3)
    for _ in range(12):
        volume = rng.normal(size=tuple(rng.integers(4, 10, 3))).astype(np.float32)
        if ties:
            volume = np.round(volume * 2) / 2
        volume = np.pad(volume, 1, constant_values=1.0)  # closed surfaces
        bounds = ((0, 0, 0), tuple(n - 1 for n in volume.shape))
        meshes = [extract_mesh(lookup(volume), bounds, volume.shape, method="dense", chunk_size=c,
                               progress=False) for c in (2, 3, 64)]
        for other in meshes[1:]:
            assert_same_mesh(meshes[0], other)
        mesh = meshes[0]
        assert mesh.metadata["ambiguous_vertices"] == 0
        if not ties:  # then no vertex is welded, and the mesh is scikit-image's single pass
            assert mesh.metadata["welded_vertices"] == 0
            verts, faces, _, _ = marching_cubes(volume, 0.0)
            assert len(mesh.faces) == len(faces) and len(mesh.vertices) == len(verts)
            dist, match = cKDTree(mesh.vertices).query(verts)
            assert dist.max() < 1e-5 and len(np.unique(match)) == len(verts)
            assert mesh.is_watertight


def test_result_does_not_depend_on_block_size():
    meshes = [extract_mesh(wavy, CUBE, 37, method=m, chunk_size=c, progress=False)
              for m in ("dense", "sparse") for c in (3, 8, 36)]
    for other in meshes[1:]:
        assert_same_mesh(meshes[0], other)


def test_samples_exactly_on_the_level_weld_cleanly():
    # r = 0.5 and a box with faces on grid planes put samples exactly on the level, where
    # several edge crossings coincide with a grid point and are welded onto it.
    for shape, res in ((Sphere(0.5), 65), (Box((0.5, 0.5, 0.25)), 33)):
        ref = extract_mesh(shape, CUBE, res, method="dense", chunk_size=64, progress=False)
        assert ref.metadata["welded_vertices"] > 0
        assert ref.is_watertight and ref.euler_number == 2 and ref.volume > 0
        for method, chunk in (("dense", 4), ("sparse", 4), ("sparse", 64)):
            other = extract_mesh(shape, CUBE, res, method=method, chunk_size=chunk, progress=False)
            assert_same_mesh(ref, other)
    box = Box((0.5, 0.5, 0.25))
    assert extract_mesh(box, CUBE, 33, progress=False).volume == pytest.approx(box.volume, rel=1e-12)


def test_anisotropic_grid_and_bounds():
    bounds = ((-0.8, -0.7, -0.5), (0.9, 0.75, 0.55))
    torus = Torus(0.5, 0.2)
    dense, sparse = both(torus, (48, 41, 30), chunk_size=7, bounds=bounds)
    assert_same_mesh(dense, sparse)
    assert dense.is_watertight and dense.euler_number == 0
    assert dense.metadata["evaluations"] == 48 * 41 * 30
    assert abs(dense.volume / torus.volume - 1) < 0.02


class SineMLP(torch.nn.Module):
    """A tiny SIREN-style MLP (3 -> 32 -> 32 -> 1) written here so the test stands alone."""

    def __init__(self, width=32, omega_0=10.0):
        super().__init__()
        self.omega_0 = omega_0
        self.layers = torch.nn.ModuleList([torch.nn.Linear(3, width), torch.nn.Linear(width, width)])
        self.out = torch.nn.Linear(width, 1)
        with torch.no_grad():
            self.layers[0].weight.uniform_(-1 / 3, 1 / 3)
            for lin in list(self.layers[1:]) + [self.out]:
                bound = np.sqrt(6 / lin.in_features) / omega_0
                lin.weight.uniform_(-bound, bound)

    def forward(self, x):
        for lin in self.layers:
            x = torch.sin(self.omega_0 * lin(x))
        return self.out(x)


def test_trained_network_sparse_equals_dense(one_thread):  # one_thread: tests/conftest.py
    torch.manual_seed(0)
    net = SineMLP()
    target = Sphere(0.55, center=(0.05, 0.0, -0.04))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(200):
        x = torch.rand(1024, 3) * 2 - 1
        loss = ((net(x)[:, 0] - target(x)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3  # the fit is a sphere-like closed surface, not noise
    dense, sparse = both(net, 64, chunk_size=16, batch_size=4096)
    assert_same_mesh(dense, sparse)
    assert dense.is_watertight and dense.volume > 0
    assert sparse.metadata["evaluations"] < 0.4 * dense.metadata["evaluations"]
    assert abs(dense.volume / target.volume - 1) < 0.1
    assert net.training  # extraction put it in eval mode and back


def test_torch_sdf_on_each_device_meshes_like_the_numpy_one(device):
    # the torus as a torch Module evaluated on `device` (float64, so both devices round alike):
    # sparse equals dense, the mesh equals the numpy callable's to float64 rounding, and the
    # area matches the torus's closed form 4 pi^2 R r to the grid's second-order error
    torus = Torus(0.5, 0.2)

    class TorchTorus(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))  # sets the dtype

        def forward(self, x):
            ring = torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2) - 0.5
            return torch.sqrt(ring**2 + x[:, 2] ** 2) - 0.2 + self.anchor

    module = TorchTorus().to(device)
    dense, sparse = both(module, 48, device=device)
    assert_same_mesh(dense, sparse)
    reference = extract_mesh(torus, CUBE, 48, method="dense", chunk_size=16, progress=False)
    assert dense.faces.shape == reference.faces.shape and np.array_equal(dense.faces, reference.faces)
    np.testing.assert_allclose(dense.vertices, reference.vertices, rtol=0, atol=1e-12)
    assert next(module.parameters()).device.type == device.type  # its device is restored
    assert dense.area == pytest.approx(torus.area, rel=0.01)  # measured 0.26% low at h = 0.043
