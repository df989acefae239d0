"""Reference tables (sirenpde/references.py): every format read back against a closed form, the
relative L2 measure, interpolation, and bad files refused with the file, line and column named."""
import math

import numpy as np
import pytest
import torch
from _bench import DATA

from sirenpde.references import FunctionReference, Reference, as_reference


def exact(x):
    """u(x, y) = sin(pi x) cos(y) + x y: smooth, not polynomial."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return torch.sin(math.pi * x[:, 0]) * torch.cos(x[:, 1]) + x[:, 0] * x[:, 1]


def table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-1, 1, (n, 2))
    return pts, exact(pts).numpy()


def check(ref, pts, u):
    assert isinstance(ref, Reference) and ref.points.dtype == torch.float64
    assert ref.points.shape == (len(pts), 2) and ref.values.shape == (len(pts), 1)
    np.testing.assert_allclose(ref.points.numpy(), pts, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ref.values.numpy()[:, 0], u, rtol=0, atol=1e-15)
    assert ref.relative_l2(exact) < 1e-15


def test_arrays_and_tensors():
    pts, u = table()
    check(as_reference((pts, u)), pts, u)
    check(as_reference((torch.from_numpy(pts), torch.from_numpy(u)[:, None])), pts, u)


@pytest.mark.parametrize("fmt", ["dat", "txt", "csv", "csv-header", "npy", "h5", "h5-xu"])
def test_every_file_format_reads_back(tmp_path, fmt):
    pts, u = table()
    rows = np.column_stack([pts, u])
    if fmt in ("dat", "txt"):
        path = tmp_path / f"ref.{fmt}"
        lines = ["% Model: synthetic", "% X   Y   u (1)"] + [" ".join(repr(float(v)) for v in r) for r in rows]
        path.write_text("\r\n".join(lines) + "\r\n")  # PINNacle's files end lines in CRLF
    elif fmt.startswith("csv"):
        path = tmp_path / "ref.csv"
        head = ["x,y,u"] if fmt == "csv-header" else ["# x, y, u"]
        path.write_text("\n".join(head + [",".join(repr(float(v)) for v in r) for r in rows]) + "\n")
    elif fmt == "npy":
        path = tmp_path / "ref.npy"
        np.save(path, rows)
    else:
        import h5py

        path = tmp_path / "ref.h5"
        names = ("points", "values") if fmt == "h5" else ("x", "u")
        with h5py.File(path, "w") as f:
            f[names[0]], f[names[1]] = pts, u
    check(as_reference(path), pts, u)
    check(as_reference(str(path)), pts, u)


def test_value_per_time_columns_expand_to_space_time_points(tmp_path):
    """``x u@t0 u@t1 u@t2`` (times from the header, or given) -> (3n, 2) points, time last."""
    x = np.linspace(0, 1, 11)
    times = [0.0, 0.5, 1.0]
    u = np.stack([np.sin(np.pi * x) * np.cos(2 * np.pi * t) for t in times], axis=1)
    path = tmp_path / "wave.dat"
    head = "% X   " + "   ".join(f"u (1) @ t={t}" for t in times)
    path.write_text("\n".join([head] + [" ".join(repr(float(v)) for v in [xi, *ui]) for xi, ui in zip(x, u)]) + "\n")
    for ref in (as_reference(path), as_reference(path, times=times)):
        assert ref.points.shape == (33, 2) and ref.values.shape == (33, 1)
        closed = lambda p: torch.sin(math.pi * p[:, 0]) * torch.cos(2 * math.pi * p[:, 1])
        assert ref.relative_l2(closed) < 1e-15
        assert ref.points[11, 1] == 0.5 and ref.points[11, 0] == 0  # time-major
    with pytest.raises(ValueError, match="2 times but 4 columns"):
        as_reference(path, times=[0.0, 1.0], dim=1)


def test_relative_l2_is_pinnacles_measure_and_takes_a_model():
    pts, u = table(50)
    ref = as_reference((pts, u))
    assert abs(ref.relative_l2(lambda x: 1.1 * exact(x)) - 0.1) < 1e-14
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.zero_(), model.bias.zero_()
    assert abs(ref.relative_l2(model) - 1.0) < 1e-12  # u = 0 is 100% off


def test_interpolation_linear_exact_at_nodes_close_between_and_refuses_outside():
    g = np.linspace(-1, 1, 41)
    pts = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    ref = as_reference((pts, exact(pts).numpy()))
    assert torch.allclose(ref(torch.from_numpy(pts[:7])), exact(pts[:7])[:, None], atol=1e-12)
    q = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.8 - 0.9
    err = (ref(q)[:, 0] - exact(q)).abs().max()
    assert err < 5e-3, err  # second-order in the 0.05 spacing: pi^2 h^2 / 8 ~ 3e-3
    with pytest.raises(ValueError, match="1 of 2 points lie outside the table's convex hull"):
        ref(torch.tensor([[0.0, 0.0], [1.5, 0.0]]))
    near = ref(torch.tensor([[1.5, 0.0]]), method="nearest")
    assert float(near) == pytest.approx(float(exact(np.array([[1.0, 0.0]]))[0]))
    assert ref(torch.tensor([[0.1, 0.2]], dtype=torch.float32)).shape == (1, 1)
    one_d = as_reference((np.linspace(0, 1, 101), np.linspace(0, 1, 101) ** 2))
    assert float(one_d(torch.tensor([[0.255]]))) == pytest.approx(0.255**2, abs=3e-5)


def test_callable_reference():
    ref = as_reference(exact)
    assert isinstance(ref, FunctionReference) and ref.points is None
    x = torch.rand(10, 2, dtype=torch.float64)
    assert ref(x).shape == (10, 1)
    assert abs(ref.relative_l2(lambda x: 0.9 * exact(x), x) - 0.1) < 1e-14


def test_bad_tables_are_refused_with_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_text("% x y u\n0 0 1\n0 1\n")
    with pytest.raises(ValueError, match=r"bad.dat, line 3: 2 columns, but the table's first row has 3"):
        as_reference(bad)
    bad.write_text("% x y u\n0 0 1\n0 1 abc\n")
    with pytest.raises(ValueError, match=r"bad.dat, line 3: could not read 'abc' as a number"):
        as_reference(bad)
    bad.write_text("0 0 1\n0 1 nan\n")
    with pytest.raises(ValueError, match=r"bad.dat, line 2: column 3 is 'nan'"):
        as_reference(bad)
    bad.write_text("% only comments\n")
    with pytest.raises(ValueError, match="no rows of numbers"):
        as_reference(bad)
    pts, u = table(5)
    u[3] = np.nan
    with pytest.raises(ValueError, match="values has NaN at row 3, column 0"):
        as_reference((pts, u))
    with pytest.raises(ValueError, match="5 points but 4 values"):
        as_reference((pts, u[:4]))
    with pytest.raises(FileNotFoundError):
        as_reference(tmp_path / "missing.dat")
    with pytest.raises(ValueError, match="unsupported reference table extension '.vtk'"):
        (tmp_path / "r.vtk").write_text("")
        as_reference(tmp_path / "r.vtk")
    with pytest.raises(TypeError, match="got int"):
        as_reference(3)


def test_sizes_are_bounded_before_allocating(tmp_path):
    """A .npy whose header claims 1e12 rows (the file is tiny: a header and no data) is refused from
    its header; an .h5 dataset likewise from its shape, without reading it."""
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (10**12, 3)})
    with pytest.raises(ValueError, match=r"shape \(1000000000000, 3\).*more than"):
        as_reference(path)
    import h5py

    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", shape=(10**12, 2), dtype="f8")  # not written: no storage
        f["values"] = np.zeros(3)
    with pytest.raises(ValueError, match="more than"):
        as_reference(path)


@pytest.mark.skipif(not (DATA / "pinnacle" / "poisson1_cg_data.dat").exists(), reason="needs ../shared/data/pinnacle")
def test_the_pinnacle_poisson_2d_c_file():
    """PINNacle's COMSOL export of Poisson 2d-C: 1,246 nodes, u = 1 on the square, 0 on the holes, in
    between inside; its other mesh (poisson_classic.dat, no header) agrees to 7e-4 (README)."""
    ref = as_reference(DATA / "pinnacle" / "poisson1_cg_data.dat")
    assert ref.points.shape == (1246, 2) and ref.values.shape == (1246, 1)
    p, u = ref.points, ref.values[:, 0]
    edge = (p.abs().max(dim=1).values - 0.5).abs() < 1e-9
    assert edge.sum() > 50 and torch.allclose(u[edge], torch.ones(()).double())
    hole = ((p.abs() - 0.3).norm(dim=1) - 0.1).abs() < 1e-6
    assert hole.sum() > 20 and u[hole].abs().max() < 1e-9
    assert 0 <= float(u.min()) and float(u.max()) <= 1 + 1e-9
    other = as_reference(DATA / "pinnacle" / "poisson_classic.dat")
    assert 5e-4 < ref.relative_l2(lambda x: other(x)) < 2e-3
