"""sirenpde.geometry: primitives, polygons, CSG and time domains against closed forms.

Monte-Carlo checks use binomial tolerances: a fraction p estimated from N points is allowed
5 standard deviations, 5 * sqrt(p (1 - p) / N) (a false failure about once in 3.5 million runs).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sirenpde.geometry import (Ball, BoundaryPart, Cuboid, Cylinder, Disk, Interval, Polygon, Rectangle,
                               TimeDomain)

L_VERTICES = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]  # an L of area 3, perimeter 8


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def binomial_ok(hits: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(hits / n - p) <= sigmas * math.sqrt(p * (1 - p) / n) + 1e-12


def box_dist(x, low, high):
    """Distance to the boundary of a box from inside or outside: (n,)."""
    low, high = np.asarray(low), np.asarray(high)
    inside = np.all((x >= low) & (x <= high), axis=1)
    d_in = np.minimum(x - low, high - x).min(axis=1)
    d_out = np.linalg.norm(np.maximum(np.maximum(low - x, x - high), 0), axis=1)
    return np.where(inside, d_in, d_out)


def box_normal(x, low, high):
    low, high = np.asarray(low), np.asarray(high)
    gaps = np.concatenate([np.abs(x - low), np.abs(x - high)], axis=1)
    k = gaps.argmin(axis=1)
    n = np.zeros_like(x)
    d = x.shape[1]
    n[np.arange(len(x)), k % d] = np.where(k < d, -1.0, 1.0)
    return n


def segment_dist(x, a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.clip(((x - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    return np.linalg.norm(x - (a + t[:, None] * (b - a)), axis=1)


def polygon_dist(x, vertices):
    v = np.asarray(vertices, float)
    return np.min([segment_dist(x, v[i], v[(i + 1) % len(v)]) for i in range(len(v))], axis=0)


# Every primitive with its exact measure, boundary measure, distance to the boundary and outward
# normal at a boundary point.
CASES = {
    "interval": (lambda: Interval(-1.0, 2.0), 3.0, 2.0,
                 lambda x: box_dist(x, [-1], [2]), lambda x: box_normal(x, [-1], [2])),
    "rectangle": (lambda: Rectangle([0, -1], [4, 0]), 4.0, 10.0,
                  lambda x: box_dist(x, [0, -1], [4, 0]), lambda x: box_normal(x, [0, -1], [4, 0])),
    "cuboid": (lambda: Cuboid([0, 0, 0], [1, 2, 3]), 6.0, 22.0,
               lambda x: box_dist(x, [0, 0, 0], [1, 2, 3]), lambda x: box_normal(x, [0, 0, 0], [1, 2, 3])),
    "disk": (lambda: Disk([0.5, -0.2], 0.7), math.pi * 0.49, 2 * math.pi * 0.7,
             lambda x: np.abs(np.linalg.norm(x - [0.5, -0.2], axis=1) - 0.7),
             lambda x: (x - [0.5, -0.2]) / 0.7),
    "ball": (lambda: Ball([0.1, 0.2, 0.3], 0.5), 4 / 3 * math.pi * 0.125, 4 * math.pi * 0.25,
             lambda x: np.abs(np.linalg.norm(x - [0.1, 0.2, 0.3], axis=1) - 0.5),
             lambda x: (x - [0.1, 0.2, 0.3]) / 0.5),
    "polygon": (lambda: Polygon(L_VERTICES), 3.0, 8.0, lambda x: polygon_dist(x, L_VERTICES), None),
    "cylinder": (lambda: Cylinder([0, 0], 0.5, -1, 1), math.pi * 0.25 * 2,
                 2 * math.pi * 0.5 * 2 + 2 * math.pi * 0.25, None, None),
}


@pytest.fixture(params=sorted(CASES))
def case(request):
    make, measure, boundary_measure, dist, normal = CASES[request.param]
    return request.param, make(), measure, boundary_measure, dist, normal


def test_measures_are_exact(case):
    _, geom, measure, boundary_measure, _, _ = case
    assert geom.measure == pytest.approx(measure, rel=1e-12)
    assert geom.boundary_measure == pytest.approx(boundary_measure, rel=1e-12)


def test_inside_matches_measure(case):
    """The fraction of bounding-box points inside is measure / bbox volume."""
    _, geom, measure, *_ = case
    low, high = geom.bbox
    n = 40_000
    x = torch.from_numpy(low + np.random.default_rng(1).random((n, geom.dim)) * (high - low))
    hits = int(geom.inside(x).sum())
    assert binomial_ok(hits, n, measure / float(np.prod(high - low)))


def test_interior_samples_inside_and_uniform(case):
    """Interior samples: inside, and their shares in the lower half of the bbox (first axis) and in
    a central slab a fifth of its width equal those regions' shares of the measure (estimated from
    the inside test on 200,000 box points)."""
    _, geom, *_ = case
    n = 20_000
    x = geom.sample_interior(n, gen(2))
    assert x.shape == (n, geom.dim) and x.dtype == torch.float32
    assert bool(geom.inside(x).all())
    low, high = geom.bbox
    mid, width = (low[0] + high[0]) / 2, high[0] - low[0]
    box = torch.from_numpy(low + np.random.default_rng(3).random((200_000, geom.dim)) * (high - low))
    inside = geom.inside(box)
    for region in (lambda y: y[:, 0] < mid, lambda y: (y[:, 0] - mid).abs() < width / 10):
        p = float((inside & region(box)).sum() / inside.sum())
        assert binomial_ok(int(region(x.double()).sum()), n, p, sigmas=6)


def test_boundary_samples_on_boundary_with_exact_normals(case):
    name, geom, _, _, dist, normal = case
    x, nrm = geom.sample_boundary(5000, gen(4))
    assert x.shape == nrm.shape == (5000, geom.dim) and x.dtype == torch.float32
    assert torch.allclose(nrm.norm(dim=1), torch.ones(5000), atol=1e-6)
    assert bool(geom.inside(x).all())
    xd = x.double().numpy()
    if dist is not None:
        assert dist(xd).max() < 1e-5
    if normal is not None:
        assert np.abs(normal(xd) - nrm.numpy()).max() < 1e-5
    # the outward normal leads out: a step along it leaves the domain, a step against it enters
    step = 1e-3 * geom._diagonal
    assert not bool(geom.inside(x.double() + step * nrm.double()).any())
    interior_side = geom.inside(x.double() - step * nrm.double()).float().mean()
    assert interior_side > 0.99  # all but points within `step` of a concave corner


def test_distance_zero_on_boundary_positive_inside_unit_gradient(case):
    _, geom, *_ = case
    xb, nb = geom.sample_boundary(2000, gen(5))
    xb = xb.double().requires_grad_(True)
    d = geom.distance(xb)
    assert d.shape == (2000,) and d.abs().max() < 1e-5
    (grad,) = torch.autograd.grad(d.sum(), xb)
    # away from corners and edges the gradient is the inward unit normal
    assert (grad.norm(dim=1) - 1).abs().median() < 1e-3
    assert float(torch.nn.functional.cosine_similarity(grad, -nb.double()).quantile(0.05)) > 0.99
    xi = geom.sample_interior(2000, gen(6))
    assert bool((geom.distance(xi) > 0).all())
    low, high = geom.bbox
    far = torch.from_numpy(np.asarray(high) + 0.5).float()[None].repeat(3, 1)
    assert bool((geom.distance(far) < 0).all())


def test_rectangle_faces_share_by_length():
    """On [0, 4] x [0, 1] the two long edges carry 8 / 10 of the boundary points."""
    x, nrm = Rectangle([0, 0], [4, 1]).sample_boundary(20_000, gen(7))
    long_faces = int((nrm[:, 1].abs() > 0.5).sum())
    assert binomial_ok(long_faces, 20_000, 0.8)
    left = int((nrm[:, 0] < -0.5).sum())
    assert binomial_ok(left, 20_000, 0.1)


def test_disk_boundary_angles_uniform():
    x, _ = Disk([1.0, 2.0], 0.3).sample_boundary(16_000, gen(8))
    angle = torch.atan2(x[:, 1] - 2.0, x[:, 0] - 1.0)
    counts = torch.histc(angle, bins=8, min=-math.pi, max=math.pi)
    assert all(binomial_ok(int(c), 16_000, 1 / 8) for c in counts)


def test_polygon_edges_by_length_and_either_orientation():
    ccw, cw = Polygon(L_VERTICES), Polygon(L_VERTICES[::-1])
    for poly in (ccw, cw):
        assert poly.measure == pytest.approx(3.0) and poly.boundary_measure == pytest.approx(8.0)
        x, nrm = poly.sample_boundary(16_000, gen(9))
        on_bottom = (x[:, 1].abs() < 1e-6) & (nrm[:, 1] < -0.99)  # the edge (0,0)-(2,0): 2 of 8
        assert binomial_ok(int(on_bottom.sum()), 16_000, 0.25)
        inner = (x[:, 0] - 1).abs() < 1e-6  # the re-entrant edge x = 1, y in [1, 2], normal +x
        assert bool((nrm[inner] - torch.tensor([1.0, 0.0])).abs().max() < 1e-6)
    probe = torch.tensor([[1.5, 1.5], [0.5, 1.5], [1.5, 0.5]])
    assert ccw.inside(probe).tolist() == [False, True, True]


@pytest.mark.parametrize("vertices, words", [
    ([(0, 0), (1, 0)], "at least 3"),
    ([(0, 0), (1, 1), (2, 2)], "zero area"),
    ([(0, 0), (2, 2), (2, 0), (0, 1)], "intersect"),
    ([(0, 0), (1, 0), (1, 0), (0, 1)], "coincide"),
    ([(0, 0), (2, 0), (1, 0), (1, 1)], "fold back"),
    ([(0, 0), (1, float("nan")), (0, 1)], "finite"),
])
def test_polygon_refuses_bad_vertices(vertices, words):
    with pytest.raises(ValueError, match=f"Polygon: .*{words}"):
        Polygon(vertices)


# ---- CSG -------------------------------------------------------------------------------------
CENTRES = [(0.3, 0.3), (-0.3, 0.3), (0.3, -0.3), (-0.3, -0.3)]


def plate():
    square = Rectangle([-0.5, -0.5], [0.5, 0.5])
    holes = Disk(CENTRES[0], 0.1) | Disk(CENTRES[1], 0.1) | Disk(CENTRES[2], 0.1) | Disk(CENTRES[3], 0.1)
    return square, holes, square - holes


def hole_gap(x):
    """Distance from each point to the nearest hole centre: (n,)."""
    c = torch.tensor(CENTRES, dtype=x.dtype)
    return (x[:, None, :] - c).norm(dim=-1).min(dim=1).values


def test_difference_boundary_not_inside_holes_and_parts_by_perimeter():
    square, holes, domain = plate()
    x, nrm = domain.sample_boundary(20_000, gen(10))
    assert bool((hole_gap(x) > 0.1 - 1e-6).all())  # nothing strictly inside a hole
    on_holes = int((hole_gap(x) < 0.1 + 1e-6).sum())
    circles = 4 * 2 * math.pi * 0.1
    assert binomial_ok(on_holes, 20_000, circles / (4 + circles))
    assert domain.boundary_measure == pytest.approx(4 + circles, rel=0.02)
    assert domain.measure == pytest.approx(1 - 4 * math.pi * 0.01, rel=0.01)


def test_parts_of_a_difference():
    square, holes, domain = plate()
    xh, nh = domain.sample_boundary(4000, gen(11), part=holes.boundary)
    assert bool(((hole_gap(xh) - 0.1).abs() < 1e-6).all())
    # the domain's outward normal on a hole points into the hole: towards its centre
    c = torch.tensor(CENTRES)[(xh[:, None, :] - torch.tensor(CENTRES)).norm(dim=-1).argmin(dim=1)]
    assert bool(((nh - (c - xh) / 0.1).norm(dim=1) < 1e-5).all())
    counts = torch.bincount((xh[:, None, :] - torch.tensor(CENTRES)).norm(dim=-1).argmin(dim=1), minlength=4)
    assert all(binomial_ok(int(k), 4000, 0.25) for k in counts)
    xs, ns = domain.sample_boundary(4000, gen(12), part=square.boundary)
    assert bool(((xs.abs().max(dim=1).values - 0.5).abs() < 1e-6).all())
    assert bool(((ns * xs).sum(dim=1) > 0).all())  # outward from the square
    one = holes.b  # the last disk of the union: a part of a part
    x1, _ = domain.sample_boundary(100, gen(13), part=one.boundary)
    assert bool(((x1 - torch.tensor(CENTRES[3])).norm(dim=1) - 0.1).abs().max() < 1e-6)
    xall, _ = domain.sample_boundary(100, gen(14), part=domain.boundary)
    assert xall.shape == (100, 2)


def test_csg_distance_zero_on_boundary_positive_inside():
    *_, domain = plate()
    xb, _ = domain.sample_boundary(4000, gen(15))
    assert domain.distance(xb).abs().max() < 1e-5
    xi = domain.sample_interior(4000, gen(16))
    assert bool(domain.inside(xi).all()) and bool((hole_gap(xi) >= 0.1 - 1e-6).all())
    assert bool((domain.distance(xi) > 0).all())
    assert bool((domain.distance(torch.tensor([[0.3, 0.3], [0.0, 0.9]])) < 0).all())


def lens_area(r: float, d: float) -> float:
    return 2 * r * r * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r * r - d * d)


def test_union_and_intersection_of_two_disks():
    r, d = 0.5, 0.6
    a, b = Disk([0, 0], r), Disk([d, 0], r)
    lens = lens_area(r, d)
    se = math.sqrt(1 / (1 << 18))  # relative standard error bound of the Monte-Carlo measures, ~0.002
    assert (a & b).measure == pytest.approx(lens, rel=10 * se)
    assert (a | b).measure == pytest.approx(2 * math.pi * r * r - lens, rel=10 * se)
    half_angle = math.acos(d / (2 * r))  # each disk's arc inside the other subtends 2 * half_angle
    arc_in = 2 * half_angle * r
    assert (a & b).boundary_measure == pytest.approx(2 * arc_in, rel=0.03)
    assert (a | b).boundary_measure == pytest.approx(2 * (2 * math.pi * r - arc_in), rel=0.03)
    x, nrm = (a & b).sample_boundary(4000, gen(17))
    ra, rb = x.norm(dim=1), (x - torch.tensor([d, 0.0])).norm(dim=1)
    assert bool(((ra <= r + 1e-6) & (rb <= r + 1e-6)).all())
    assert bool((torch.minimum((ra - r).abs(), (rb - r).abs()) < 1e-6).all())
    x, _ = (a | b).sample_boundary(4000, gen(18))
    assert bool(((x.norm(dim=1) >= r - 1e-6) & ((x - torch.tensor([d, 0.0])).norm(dim=1) >= r - 1e-6)).all())


def test_shared_faces_of_a_union_are_not_boundary():
    left, right = Rectangle([0, 0], [1, 1]), Rectangle([1, 0], [2, 1])
    x, _ = (left | right).sample_boundary(4000, gen(19))
    assert not bool(((x[:, 0] - 1).abs() < 1e-6).any())
    assert (left | right).boundary_measure == pytest.approx(6.0, rel=0.03)


# ---- time ------------------------------------------------------------------------------------
def test_time_domain_parts_and_uniform_time():
    square, holes, space = plate()
    td = space.over(0.5, 2.5)
    assert isinstance(td, TimeDomain) and td.dim == 3
    assert td.measure == pytest.approx(2 * space.measure)
    x0, n0 = td.sample_boundary(3000, gen(20), part=td.initial)
    assert bool((x0[:, 2] == 0.5).all()) and bool((n0 == torch.tensor([0.0, 0.0, -1.0])).all())
    assert bool(space.inside(x0[:, :2]).all())
    x1, n1 = td.sample_boundary(100, gen(20), part=td.final)
    assert bool((x1[:, 2] == 2.5).all()) and bool((n1[:, 2] == 1).all())
    x, nrm = td.sample_boundary(8000, gen(21))
    assert bool((nrm[:, 2] == 0).all()) and bool(space.distance(x[:, :2]).abs().max() < 1e-5)
    t = x[:, 2]
    assert bool(((t >= 0.5) & (t <= 2.5)).all())
    counts = torch.histc(t, bins=4, min=0.5, max=2.5)
    assert all(binomial_ok(int(c), 8000, 0.25) for c in counts)
    xh, nh = td.sample_boundary(2000, gen(22), part=holes.boundary)
    assert bool(((hole_gap(xh[:, :2]) - 0.1).abs() < 1e-6).all()) and bool((nh[:, 2] == 0).all())
    xi = td.sample_interior(2000, gen(23))
    assert bool(td.inside(xi).all())
    assert td.space_distance(xh).abs().max() < 1e-5
    assert torch.equal(td.distance(xi), td.space_distance(xi))


def test_interval_over_time_is_a_rectangle_of_parts():
    td = TimeDomain(Interval(0, 1), 0, 2)
    x, nrm = td.sample_boundary(4000, gen(24))
    assert bool(((x[:, 0] == 0) | (x[:, 0] == 1)).all())
    assert bool((nrm[:, 0] == torch.where(x[:, 0] == 0, -1.0, 1.0)).all())
    assert binomial_ok(int((x[:, 0] == 0).sum()), 4000, 0.5)


# ---- bad input -------------------------------------------------------------------------------
def test_empty_csg_refused_when_sampled():
    empty = Disk([0, 0], 0.2) & Disk([1, 0], 0.2)
    with pytest.raises(ValueError, match="interior is empty"):
        empty.sample_interior(10, gen())
    with pytest.raises(ValueError, match="boundary is empty"):
        empty.sample_boundary(10, gen())
    covered = Disk([0, 0], 0.5) - Rectangle([-1, -1], [1, 1])
    with pytest.raises(ValueError, match="boundary is empty"):
        covered.sample_boundary(10, gen())
    assert covered.measure == 0.0


def test_part_not_on_the_boundary_refused():
    square, holes, domain = plate()
    with pytest.raises(ValueError, match=r"Disk\(\[9, 9\], 0.1\)\.boundary does not lie on the boundary"):
        domain.sample_boundary(10, gen(), part=Disk([9, 9], 0.1).boundary)
    buried = Disk([0, 0], 0.1)
    with pytest.raises(ValueError, match="does not lie on the boundary"):
        (square | buried).sample_boundary(10, gen(), part=buried.boundary)
    with pytest.raises(ValueError, match="does not lie on the boundary"):
        square.sample_boundary(10, gen(), part=holes.boundary)
    td = square.over(0, 1)
    with pytest.raises(ValueError, match="does not lie on the boundary"):
        td.sample_boundary(10, gen(), part=holes.boundary)
    with pytest.raises(ValueError, match="does not lie on the boundary"):
        domain.sample_boundary(10, gen(), part=td.initial)


def test_mixed_dimensions_refused():
    with pytest.raises(ValueError, match=r"Union: cannot combine .*2D.*3D.*mixed dimensions"):
        Disk([0, 0], 1) | Ball([0, 0, 0], 1)
    with pytest.raises(ValueError, match="TimeDomain"):
        Disk([0, 0], 1).over(0, 1) - Ball([0, 0, 0], 1)


@pytest.mark.parametrize("make, words", [
    (lambda: Disk([0, 0], -1), "Disk: radius must be a positive finite number, got -1"),
    (lambda: Disk([0, 0, 0], 1), "Disk: centre must be 2 finite numbers"),
    (lambda: Ball([0, 0, 0], float("nan")), "Ball: radius"),
    (lambda: Rectangle([0, 1], [1, 0]), r"Rectangle: every high must exceed its low, got low=\[0, 1\]"),
    (lambda: Rectangle([0, 0, 0], [1, 1, 1]), "Rectangle: low and high must have 2 coordinates"),
    (lambda: Cuboid([0, 0], [1, 1]), "Cuboid: low and high must have 3 coordinates"),
    (lambda: Interval(1, 0), "Interval: b must exceed a"),
    (lambda: Interval("a", 1), "Interval: a must be a finite number"),
    (lambda: Cylinder([0, 0], 1, 2, 1), "Cylinder: z1 must exceed z0"),
    (lambda: TimeDomain(Disk([0, 0], 1), 1, 1), "TimeDomain: t1 must exceed t0"),
    (lambda: Disk([0, 0], 1).sample_interior(-3, gen()), "Disk: the number of points n"),
    (lambda: Disk([0, 0], 1).inside(torch.zeros(4, 3)), r"Disk.inside: x must be \(n, 2\)"),
])
def test_bad_arguments_refused(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_parts_compare_by_owner():
    d = Disk([0, 0], 1)
    assert d.boundary == d.boundary and hash(d.boundary) == hash(d.boundary)
    assert d.boundary != Disk([0, 0], 1).boundary
    assert isinstance(d.boundary, BoundaryPart) and d.boundary.geometry is d
    assert repr(d.boundary) == "Disk([0, 0], 1).boundary"


def test_identity_does_not_depend_on_cached_measures():
    """A checkpoint's identity fingerprints the domain's public attributes: computing the
    Monte-Carlo measures must not change it, and another radius must."""
    from sirenpde.identity import fingerprint
    square = Rectangle([-0.5, -0.5], [0.5, 0.5])
    used, fresh = square - Disk([0.3, 0.3], 0.1), square - Disk([0.3, 0.3], 0.1)
    assert used.measure > 0 and used.boundary_measure > 0
    assert fingerprint(used) == fingerprint(fresh)
    assert fingerprint(used) != fingerprint(square - Disk([0.3, 0.3], 0.2))
    assert fingerprint(used) != fingerprint(square | Disk([0.3, 0.3], 0.1))
