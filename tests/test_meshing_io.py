"""sirenpde.meshing: inputs, errors, coordinates, export and cleanup."""
import numpy as np
import pytest
import torch
import trimesh

from sirenpde.meshing import Sphere, Union, export_ply, extract_mesh, remove_small_components

CUBE = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))
SPHERE = Sphere(0.6, center=(0.02, -0.01, 0.03))


def quick(sdf, **kw):
    kw.setdefault("progress", False)
    return extract_mesh(sdf, kw.pop("bounds", CUBE), kw.pop("resolution", 24), **kw)


# -- what the sdf receives ---------------------------------------------------------------------

class Recorder(torch.nn.Module):
    """A Module with one parameter that records what it was called with."""

    def __init__(self, shape, dtype=torch.float32):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones((), dtype=dtype))
        self.shape, self.seen = shape, []

    def forward(self, x):
        self.seen.append((type(x), x.dtype, x.shape, torch.is_grad_enabled(), self.training))
        return (self.scale * SPHERE(x)).reshape(self.shape(len(x)))


@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize("out_shape", [lambda n: (n,), lambda n: (n, 1)])
def test_module_gets_fixed_size_torch_batches_without_grad(method, out_shape):
    module = Recorder(out_shape).train()
    mesh = quick(module, method=method, batch_size=1000)
    assert module.training  # restored
    kinds = set(module.seen)
    assert kinds == {(torch.Tensor, torch.float32, torch.Size([1000, 3]), False, False)}
    ref = quick(SPHERE, method=method, batch_size=1000)
    assert len(mesh.faces) == len(ref.faces)
    assert np.allclose(mesh.vertices, ref.vertices, atol=1e-5)  # float32 vs float64 evaluation


class WithDropout(torch.nn.Module):
    """The sphere, scrambled by dropout unless the module is in eval mode."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Linear(1, 1)
        self.drop = torch.nn.Dropout(0.5)
        with torch.no_grad():
            self.scale.weight.fill_(1.0)
            self.scale.bias.zero_()

    def forward(self, x):
        return self.scale(self.drop(SPHERE(x)[:, None]))


def test_module_runs_in_eval_mode_and_every_mode_is_restored():
    module = WithDropout().train()
    module.scale.eval()  # a mixed state must come back as it was
    mesh = quick(module)
    assert module.training and module.drop.training and not module.scale.training
    ref = quick(SPHERE)
    assert len(mesh.faces) == len(ref.faces) and np.allclose(mesh.vertices, ref.vertices, atol=1e-5)


def test_float64_module_gets_float64_and_plain_callables_get_numpy():
    module = Recorder(lambda n: (n,), dtype=torch.float64)
    quick(module)
    assert {s[1] for s in module.seen} == {torch.float64}
    seen = []

    def fn(x):
        seen.append((type(x), x.dtype, x.shape))
        return torch.from_numpy(SPHERE(x))  # returning torch from a numpy callable is fine

    quick(fn, method="dense", batch_size=512)
    assert set(seen) == {(np.ndarray, np.dtype(np.float64), (512, 3))}
    seen.clear()
    quick(lambda x: seen.append(type(x)) or SPHERE(x), input_type="torch")
    assert set(seen) == {torch.Tensor}


def test_evaluation_count_and_metadata():
    dense = quick(SPHERE, method="dense", resolution=(20, 21, 22), batch_size=777)
    assert dense.metadata["evaluations"] == dense.metadata["dense_points"] == 20 * 21 * 22
    assert dense.metadata["wall_time"] > 0
    assert dense.metadata["resolution"] == (20, 21, 22) and dense.metadata["method"] == "dense"
    sparse = quick(SPHERE, method="sparse", resolution=(20, 21, 22))
    assert 0 < sparse.metadata["evaluations"] < dense.metadata["evaluations"]


def test_progress_bars_go_to_stderr(capsys):
    quick(SPHERE, method="sparse", progress=True)
    quick(SPHERE, method="dense", progress=True)
    err = capsys.readouterr().err
    assert "mesh (sparse)" in err and "mesh (dense)" in err and "block" in err


# -- caller coordinates ------------------------------------------------------------------------

def affine(scale, shift):
    m = np.eye(4)
    m[:3, :3] = np.diag(scale)
    m[:3, 3] = shift
    return m


def test_transform_maps_vertices_to_caller_coordinates():
    plain = quick(SPHERE)
    m = affine((2.0, 2.0, 2.0), (1.0, -2.0, 3.0))
    moved = quick(SPHERE, transform=m)
    assert np.allclose(moved.vertices, plain.vertices * 2 + [1.0, -2.0, 3.0], rtol=0, atol=1e-12)
    radius = np.linalg.norm(moved.vertices - (np.array(SPHERE.center) * 2 + [1.0, -2.0, 3.0]), axis=1)
    assert np.allclose(radius, 2 * SPHERE.radius, atol=2 * 2 / 23 * 0.1)  # within a tenth of a cell
    assert moved.volume == pytest.approx(plain.volume * 8, rel=1e-9)


def test_transform_from_normalization_attribute_and_mirror():
    class Normalization:
        matrix = affine((0.5, 0.5, 0.5), (10.0, 0.0, 0.0))

    class Shape:
        normalization = Normalization()

        def __call__(self, x):
            return SPHERE(x)

    plain = quick(SPHERE)
    mesh = quick(Shape())
    assert np.allclose(mesh.vertices, plain.vertices * 0.5 + [10.0, 0.0, 0.0], rtol=0, atol=1e-12)
    assert np.allclose(quick(Shape(), transform=np.eye(4)).vertices, plain.vertices)  # explicit wins
    mirrored = quick(SPHERE, transform=affine((-1.0, 1.0, 1.0), (0, 0, 0)))
    assert mirrored.volume == pytest.approx(plain.volume, rel=1e-9)  # faces flipped: still outward
    assert mirrored.is_winding_consistent


@pytest.mark.parametrize("bad, match", [
    (np.eye(3), "4x4"),
    (np.diag([1.0, 1.0, 0.0, 1.0]), "singular"),
    (np.ones((4, 4)), "affine"),
])
def test_bad_transform(bad, match):
    with pytest.raises(ValueError, match=match):
        quick(SPHERE, transform=bad)


# -- bad input ---------------------------------------------------------------------------------

def test_wrong_output_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"returned shape \(512, 2\) .* expected \(512,\) or \(512, 1\)"):
        quick(lambda x: np.zeros((len(x), 2)), batch_size=512)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_nan_values_are_counted_and_located(method):
    def holey(x):
        f = SPHERE(x)
        f[x[:, 0] > 0.9] = np.nan
        return f

    where = r"\d+ non-finite values .* first at grid index \(2[0-3], \d+, \d+\)"
    with pytest.raises(ValueError, match=where):
        quick(holey, method=method)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_level_never_crossed(method, tmp_path):
    if method == "dense":  # every grid point is seen, so the range is known exactly
        x = np.linspace(-1.0, 1.0, 24)
        grid = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
        values = SPHERE(grid).astype(np.float32)
        seen = rf"{values.min():.6g} to {values.max():.6g} over {24 ** 3} evaluated points"
    else:
        seen = r"-?\d\.\d+ to \d\.\d+ over \d+ evaluated points"
    msg = rf"level 5\.0 was never crossed: sdf values seen ranged from {seen}"
    with pytest.raises(ValueError, match=msg):
        quick(SPHERE, level=5.0, method=method)
    # what a caller would have written instead: exporting an empty mesh is refused and leaves
    # neither the file nor a temporary behind
    empty = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False)
    with pytest.raises(ValueError, match=r"refusing to write an empty mesh \(0 vertices, 0 faces\)"):
        export_ply(empty, tmp_path / "never.ply")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kw, match", [
    ({"bounds": ((0, 0, 0), (1, 0, 1))}, "zero or negative volume: max <= min along y"),
    ({"bounds": ((0, 0, 0), (1, 1, -1))}, "zero or negative volume: max <= min along z"),
    ({"bounds": ((0, 0), (1, 1))}, r"shape \(2, 3\)"),
    ({"resolution": 1}, "resolution must be >= 2"),
    ({"resolution": (8, 8)}, "int or 3 ints"),
    ({"resolution": 16.0}, "integer"),
    ({"method": "octree"}, "unknown method 'octree'"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"chunk_size": 1000}, "chunk_size"),
    ({"safety": 0.0}, "safety must be > 0"),
    ({"level": float("nan")}, "level must be a finite number"),
    ({"cleanup": "smallest"}, "cleanup"),
    ({"batch_size": 0}, "batch_size"),
    ({"input_type": "jax"}, "input_type"),
    ({"device": "tpu:x"}, "device must be"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        quick(SPHERE, **kw)


def test_not_callable():
    with pytest.raises(ValueError, match="callable"):
        quick(np.zeros(3))


# -- export ------------------------------------------------------------------------------------

@pytest.mark.parametrize("binary", [True, False])
def test_ply_round_trip(tmp_path, binary):
    mesh = quick(SPHERE)
    path = export_ply(mesh, tmp_path / "sphere.ply", binary=binary)
    assert [p.name for p in tmp_path.iterdir()] == ["sphere.ply"]  # no temporary left behind
    head = path.read_bytes()[:80]
    assert (b"binary_little_endian" in head) == binary and (b"ascii" in head) == (not binary)
    back = trimesh.load(path, process=False)
    assert np.array_equal(back.faces, mesh.faces)
    # trimesh stores PLY vertices as float32: binary keeps those exactly, ASCII to print precision
    expected = mesh.vertices.astype(np.float32)
    assert np.allclose(back.vertices, expected, rtol=0, atol=0 if binary else 1e-7)
    assert back.is_watertight


def test_ply_failures_write_nothing(tmp_path, monkeypatch):
    empty = trimesh.Trimesh(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=int))
    with pytest.raises(ValueError, match="empty mesh"):
        export_ply(empty, tmp_path / "empty.ply")
    with pytest.raises(ValueError, match=r"\.ply"):
        export_ply(quick(SPHERE), tmp_path / "sphere.obj")
    mesh = quick(SPHERE)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mesh, "export", broken)
    with pytest.raises(OSError, match="disk full"):
        export_ply(mesh, tmp_path / "sphere.ply")
    assert list(tmp_path.iterdir()) == []


# -- cleanup -----------------------------------------------------------------------------------

def test_remove_small_components():
    big, small, tiny = Sphere(0.5, (-0.35, 0, 0)), Sphere(0.25, (0.6, 0, 0)), Sphere(0.12, (0.6, 0.6, 0.6))
    shapes = Union(big, small, tiny)
    full = quick(shapes, resolution=40)
    parts = full.split(only_watertight=True)
    assert len(parts) == 3
    sizes = sorted(len(p.faces) for p in parts)
    largest = quick(shapes, resolution=40, cleanup="largest")
    assert len(largest.faces) == sizes[-1] and largest.is_watertight
    assert largest.volume == pytest.approx(max(p.volume for p in parts), rel=1e-12)
    assert largest.metadata["components_removed"] == 2 and largest.metadata["evaluations"] > 0
    threshold = (sizes[0] + 1) / len(full.faces)  # drops only the tiny sphere
    two = remove_small_components(full, threshold)
    assert len(two.faces) == sizes[1] + sizes[2] and two.metadata["components_removed"] == 1
    assert len(remove_small_components(full, 1.0).faces) == sizes[-1]  # the largest always stays
    with pytest.raises(ValueError, match="fraction"):
        remove_small_components(full, 1.5)
