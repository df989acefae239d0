"""Meshing is bounded by design: its cost is estimated before it starts and a run that cannot
fit in memory is refused at once, with the estimate and the limit."""
import time
import tracemalloc

import pytest
import torch

from sirenpde.meshing import MeshTooLargeError, Sphere, estimate_cost, extract_mesh
from sirenpde.meshing.cost import available_memory

CUBE = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


@pytest.mark.parametrize("method", ["sparse", "dense"])
def test_huge_resolution_is_refused_at_once_with_the_estimate_and_the_limit(method):
    calls = []

    def sdf(x):  # never called: the refusal comes before any evaluation
        calls.append(len(x))
        return Sphere(0.5)(x)

    t0 = time.perf_counter()
    with pytest.raises(MeshTooLargeError, match=(
            rf"meshing at resolution \(100000, 100000, 100000\) \({method}\) would need about "
            r"[\d.e+]+ sdf evaluations and [\d.]+ TB of memory, roughly .*; only [\d.]+ [KMGT]?B of "
            r"memory is available")):
        extract_mesh(sdf, CUBE, 100000, method=method, progress=False)
    assert time.perf_counter() - t0 < 1.0 and calls == []
    assert issubclass(MeshTooLargeError, ValueError)


def test_explicit_limit_refuses_and_allows():
    cost = estimate_cost(32, "dense")
    with pytest.raises(MeshTooLargeError, match=r"only 1 KB of memory is available"):
        extract_mesh(Sphere(0.5), CUBE, 32, method="dense", progress=False, memory_limit=1024)
    mesh = extract_mesh(Sphere(0.5), CUBE, 32, method="dense", progress=False, memory_limit=cost.peak_bytes)
    assert len(mesh.faces) > 0 and mesh.metadata["estimated_peak_bytes"] == cost.peak_bytes


@pytest.mark.parametrize("method, memory_factor, evaluation_factor", [
    ("sparse", 4.5, 5.5), ("dense", 6.0, 1.0)])
def test_estimate_bounds_a_normal_run_from_above_within_a_small_factor(method, memory_factor, evaluation_factor):
    # a sphere filling most of the box at resolution 96, measured with tracemalloc (numpy's
    # allocations): peaks 25.3 MB (sparse) and 12.0 MB (dense) against estimates 3.30x and 4.75x
    # higher; evaluations 176k (sparse) against 737k estimated (4.18x), all 885k (dense) exactly.
    # Bounds: the measured factors with about 30% margin (4.5x, 6x memory; 5.5x evaluations)
    tracemalloc.start()
    mesh = extract_mesh(Sphere(0.8), CUBE, 96, method=method, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    cost = estimate_cost(96, method, sdf=Sphere(0.8))
    assert peak < cost.peak_bytes < memory_factor * peak, (peak, cost)
    evaluations = mesh.metadata["evaluations"]
    assert evaluations <= cost.evaluations <= evaluation_factor * evaluations, (evaluations, cost)
    if method == "dense":
        assert cost.evaluations == evaluations == 96**3
    assert available_memory() is None or cost.peak_bytes < available_memory()


def test_estimate_of_a_network_uses_its_size():
    # a 3x256 Siren-sized MLP: 2 flops per parameter per point at 2e10 flop/s
    net = torch.nn.Sequential(torch.nn.Linear(3, 256), torch.nn.Linear(256, 256), torch.nn.Linear(256, 1))
    params = sum(p.numel() for p in net.parameters())
    cost = estimate_cost(512, "dense", sdf=net)
    assert cost.points_per_s == pytest.approx(2e10 / (2 * params))
    assert cost.seconds == pytest.approx(512**3 / cost.points_per_s)
    assert "sdf evaluations" in cost.describe() and "points/s" in cost.describe()
    assert estimate_cost(512, "dense", points_per_s=1e9).seconds == pytest.approx(512**3 / 1e9)
    with pytest.raises(ValueError, match="resolution must be >= 2"):
        estimate_cost(1)
