"""plate-holes (PINNacle's Poisson 2d-C with the hole radius as an option) and its reference solver."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sirenpde.problems import get_problem
from sirenpde.problems.plate_holes import laplace_fd

from _bench import DATA


def harmonic(q):
    return np.exp(2 * q[:, 0]) * np.cos(2 * q[:, 1]) + q[:, 0] * q[:, 1]


def test_the_solver_is_second_order_on_an_exact_harmonic_field():
    """Boundary values of exp(2x) cos(2y) + xy on the square and on four circles of different radii:
    the max nodal error falls by 4.0 per halving of h (measured 4.6e-5, 1.2e-5, 2.9e-6 at n = 50, 100,
    200); bounds: below 2e-5 at n = 100 and a ratio above 3.5."""
    holes = [(0.3, 0.3, 0.1), (-0.3, 0.3, 0.13), (0.3, -0.3, 0.07), (-0.3, -0.3, 0.1)]
    errors = []
    for n in (50, 100):
        axis, u = laplace_fd(holes, n, harmonic)
        X, Y = np.meshgrid(axis, axis, indexing="ij")
        exact = harmonic(np.stack([X.ravel(), Y.ravel()], 1)).reshape(X.shape)
        inside = np.isfinite(u)
        assert inside.sum() > 0.9 * (1 - 4 * math.pi * 0.1**2) * u.size
        errors.append(np.abs(u - exact)[inside].max())
    assert errors[1] < 2e-5 and errors[0] / errors[1] > 3.5, errors


def test_the_reference_agrees_with_pinnacles_finite_elements():
    """At r = 0.1 on PINNacle's 1,246 finite-element nodes (those whose interpolation cell lies in the
    plate): relative L2 3.6e-5 with 400 intervals (the elements' own error); bound 1e-4."""
    from sirenpde.references import as_reference

    path = DATA / "pinnacle" / "poisson1_cg_data.dat"
    if not path.exists():
        pytest.skip(f"{path} not present")
    table = as_reference(path)
    ref = get_problem("plate-holes").reference(table.points.double()).numpy().ravel()
    fem = table.values.numpy().ravel()
    ok = np.isfinite(ref)
    assert ok.sum() > 0.85 * len(ok)
    assert np.linalg.norm(ref[ok] - fem[ok]) / np.linalg.norm(fem[ok]) < 1e-4


def test_members_differ_in_their_domain_and_options_are_checked():
    small, large = get_problem("plate-holes", radius=0.05), get_problem("plate-holes", radius=0.15)
    for problem, r in ((small, 0.05), (large, 0.15)):
        # the plate's area is 1 - 4 pi r^2; a uniform sample's fraction inside agrees (3 sigma of 20,000)
        x = torch.rand(20000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5
        frac = float(problem.domain.inside(x).double().mean())
        area = 1 - 4 * math.pi * r**2
        assert abs(frac - area) < 3 * math.sqrt(area * (1 - area) / 20000)
        pts = problem.metric_points_tensor()
        assert ((pts - torch.tensor([0.3, 0.3], dtype=torch.float64)).norm(dim=1) > r).all()
    for option, value, match in (("radius", 0.3, "radius must be in"), ("radius", -1.0, "radius must be"),
                                 ("reference_n", 10**6, "reference_n must be an integer in")):
        with pytest.raises(ValueError, match=match):
            get_problem("plate-holes", **{option: value})


def test_metrics_are_zero_for_the_reference_itself_and_scored_at_the_nodes():
    problem = get_problem("plate-holes", reference_n=64)
    axis, u = problem.reference_grid()

    h = axis[1] - axis[0]

    class Oracle(torch.nn.Module):  # the reference's value at the nearest node
        def __init__(self, shift=0.0):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(shift, dtype=torch.float64))

        def forward(self, x):
            i = ((x.double() - axis[0]) / h).round().long().numpy()
            return torch.as_tensor(u[i[:, 0], i[:, 1]])[:, None] + self.w

    m = problem.metrics(Oracle())
    assert m["rel_l2"] < 1e-12 and m["max_abs"] < 1e-12
    assert problem.metrics(Oracle(0.01))["max_abs"] == pytest.approx(0.01)
