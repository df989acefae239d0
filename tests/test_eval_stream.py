"""``sirenpde eval`` streams its points and results: the chunked output equals one evaluation of all
points, and the peak memory does not grow with the number of points."""
from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import sirenpde
from sirenpde.cli.eval import NpyRows, memory_need
from sirenpde.cli.main import main


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    assert main(["solve", "poisson-gradient", "-O", "size=16", "--steps", "2", "--lbfgs-steps", "0",
                 "--hidden-features", "8", "--hidden-layers", "1", "-q", "--out", str(out)]) == 0
    return out / "model.pt"


@pytest.mark.parametrize("suffix", [".npy", ".txt"])
@pytest.mark.parametrize("order", [0, 2])
def test_chunked_results_equal_one_evaluation(tiny_model, tmp_path, suffix, order):
    """103 points in chunks of 10 (the last one short), against the model on all points at once:
    equal to float32 rounding (measured 0 for values, <1e-6 relative for derivatives)."""
    pts = np.random.default_rng(1).uniform(-1, 1, (103, 2))
    path = tmp_path / f"pts{suffix}"
    np.save(path, pts) if suffix == ".npy" else np.savetxt(path, pts)
    assert main(["eval", str(tiny_model), "--points", str(path), "--out", str(tmp_path / "v.h5"),
                 "--order", str(order), "--chunk", "10"]) == 0
    sol = sirenpde.load(tiny_model)
    want = sol.evaluate(pts.astype(np.float32), order=order, chunk=1000)
    with h5py.File(tmp_path / "v.h5") as f:
        assert sorted(f) == sorted(want)
        for key, value in want.items():
            got = f[key][:]
            assert got.shape == value.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-6 * np.abs(value).max())


def test_npy_rows_read_blocks_of_the_file(tmp_path):
    a = np.arange(60, dtype=np.float64).reshape(20, 3)
    np.save(tmp_path / "a.npy", a)
    rows = NpyRows(tmp_path / "a.npy")
    assert rows.shape == (20, 3) and len(rows) == 20
    np.testing.assert_array_equal(rows[7:11], a[7:11])
    np.testing.assert_array_equal(rows[18:40], a[18:])  # a block past the end is cut, as numpy's
    (tmp_path / "short.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-8])
    with pytest.raises(ValueError, match="shorter than its header"):
        NpyRows(tmp_path / "short.npy")
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    with pytest.raises(ValueError, match="Fortran"):
        NpyRows(tmp_path / "f.npy")


def test_memory_need_does_not_grow_with_npy_points_but_with_text_points(tmp_path):
    """The issue's case, 5e7 float64 2-D points at order 0: a .npy needs the same as 5e5 points (one
    chunk), a text table holds all its points (800 MB in float64)."""
    small = sum(memory_need("p.npy", 5 * 10**5, 2, 1, 0, 32768, 256).values())
    large = sum(memory_need("p.npy", 5 * 10**7, 2, 1, 0, 32768, 256).values())
    assert large == small
    text = memory_need("p.txt", 5 * 10**7, 2, 1, 0, 32768, 256)
    assert text["points as read"] == 5 * 10**7 * 2 * 8


def _peak_rss_kib(argv) -> int:
    """Peak resident memory of ``python -m sirenpde.cli argv`` (its own rusage, from wait4)."""
    proc = subprocess.Popen([sys.executable, "-m", "sirenpde.cli", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    proc.stderr.close()
    return usage.ru_maxrss


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_peak_memory_of_eval_does_not_grow_with_the_points(tiny_model, tmp_path):
    """4e6 float64 points (64 MB on disk; as the whole array read, its float32 copy and the
    results, the old eval held ~130 MB more than for 1,000 points): the peak stays within 40 MB of
    the 1,000-point run's (measured: +2 to +8 MB; 5e7 points: 334 MB against 2.76 GB before)."""
    pts = np.random.default_rng(0).uniform(-1, 1, (4 * 10**6, 2))
    np.save(tmp_path / "big.npy", pts)
    np.save(tmp_path / "small.npy", pts[:1000])
    del pts
    base = _peak_rss_kib(["eval", str(tiny_model), "--points", str(tmp_path / "small.npy"),
                          "--out", str(tmp_path / "s.h5")])
    big = _peak_rss_kib(["eval", str(tiny_model), "--points", str(tmp_path / "big.npy"),
                         "--out", str(tmp_path / "b.h5")])
    assert big - base < 40 * 1024, (base, big)
    with h5py.File(tmp_path / "b.h5") as f:
        assert f["value"].shape == (4 * 10**6, 1) and np.isfinite(f["value"][-5:]).all()
