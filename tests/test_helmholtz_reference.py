"""Reference Helmholtz solvers: radial quadrature and FDFD with a PML, against exact answers."""
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import hankel1, j0

from sirenpde.problems.helmholtz_reference import (FDFD, gaussian_source, green_2d, helmholtz_uniform,
                                                   pml_stretch, radial_gaussian_solution)


def test_gaussian_source_has_unit_integral():
    sigma = 0.05
    x = np.linspace(-0.5, 0.5, 401)
    xx, yy = np.meshgrid(x, x, indexing="ij")
    f = gaussian_source(np.stack([xx.ravel(), yy.ravel()], 1), center=(0.1, -0.05), sigma=sigma)
    assert abs(f.sum() * (x[1] - x[0]) ** 2 - 1.0) < 1e-10


@pytest.mark.parametrize("k,sigma", [(20.0, 0.01), (40.0, 0.03)])
def test_far_field_is_damped_green_function(k, sigma):
    # Outside the source (r >= 12 sigma) u = G(r) * FT(g)(k) = G(r) exp(-k² σ²/2) exactly.
    r = np.linspace(12 * sigma, 1.5, 50)
    u = radial_gaussian_solution(r, k, sigma)
    expected = green_2d(r, k) * np.exp(-k**2 * sigma**2 / 2)
    assert np.max(np.abs(u - expected) / np.abs(expected)) < 1e-10
    # The damping is not negligible: the undamped Green function is measurably different.
    undamped = np.abs(u - green_2d(r, k)) / np.abs(green_2d(r, k))
    assert np.max(undamped) > 0.5 * (1 - np.exp(-k**2 * sigma**2 / 2))


def test_radial_quadrature_matches_adaptive_quadrature_inside_the_source():
    k, sigma = 20.0, 0.01

    def g(p):
        return np.exp(-p**2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)

    def adaptive(r):
        a = quad(lambda p: j0(k * p) * g(p) * p, 0, r, epsabs=0, epsrel=1e-13, limit=200)[0] if r > 0 else 0.0
        parts = [quad(lambda p, f=f: f(hankel1(0, k * p)) * g(p) * p, r, 20 * sigma, epsabs=0,
                      epsrel=1e-13, limit=200)[0] for f in (np.real, np.imag)]
        h = hankel1(0, k * r) if r > 0 else 0.0
        return 0.25j * 2 * np.pi * (h * a + j0(k * r) * (parts[0] + 1j * parts[1]))

    r = np.array([0.0, 1e-6, 0.002, 0.01, 0.025, 0.07, 0.11])
    u = radial_gaussian_solution(r, k, sigma)
    ref = np.array([adaptive(v) for v in r])
    assert np.max(np.abs(u - ref) / np.abs(ref)) < 1e-9


def test_radial_solution_satisfies_the_radial_ode():
    # u'' + u'/r + k² u = -g, checked with 4th-order central differences in r.
    k, sigma = 20.0, 0.01
    r = np.linspace(0.002, 0.1, 40)
    d = 2e-4
    u = lambda s: radial_gaussian_solution(s, k, sigma)
    up2, up1, u0, um1, um2 = u(r + 2 * d), u(r + d), u(r), u(r - d), u(r - 2 * d)
    d1 = (-up2 + 8 * up1 - 8 * um1 + um2) / (12 * d)
    d2 = (-up2 + 16 * up1 - 30 * u0 + 16 * um1 - um2) / (12 * d**2)
    g = np.exp(-r**2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    residual = d2 + d1 / r + k**2 * u0 + g
    assert np.max(np.abs(residual)) < 1e-5 * g.max()


def test_helmholtz_uniform_checks_shapes_and_centre():
    p = np.array([[0.3, 0.2], [0.1, -0.4]])
    shifted = helmholtz_uniform(p + [0.2, 0.1], 15.0, center=(0.2, 0.1), sigma=0.02)
    assert np.allclose(shifted, helmholtz_uniform(p, 15.0, sigma=0.02), rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="shape"):
        helmholtz_uniform(np.zeros((3, 3)), 15.0)
    with pytest.raises(ValueError, match="sigma"):
        radial_gaussian_solution([0.1], 15.0, sigma=0.0)


def _physical_error(n, k=10.0, sigma=0.05):
    solver = FDFD(k, n)
    sol = solver.solve(lambda p: gaussian_source(p, sigma=sigma))
    # Compare on the nodes of the coarsest grid (n = 40) inside [-0.5, 0.5]², common to all grids.
    stride = n // 40
    idx = np.arange(10 * stride, 30 * stride + 1, stride)
    xx, yy = np.meshgrid(solver.x[idx], solver.x[idx], indexing="ij")
    exact = helmholtz_uniform(np.stack([xx.ravel(), yy.ravel()], 1), k, sigma=sigma)
    num = sol.u[np.ix_(idx, idx)].ravel()
    return np.linalg.norm(num - exact) / np.linalg.norm(exact), solver, sol


def test_fdfd_converges_at_second_order_to_the_exact_solution():
    ns = [40, 80, 160]
    errors = []
    for n in ns:
        err, solver, sol = _physical_error(n)
        errors.append(err)
        # The sparse solve satisfies the assembled discrete equation.
        assert solver.residual(sol) < 1e-10
    slope = np.polyfit(np.log(2.0 / np.array(ns)), np.log(errors), 1)[0]
    assert 1.85 < slope < 2.15, (errors, slope)
    assert errors[-1] < 3e-3  # measured 2.45e-3 (k h = 0.125)


def test_fdfd_interpolator_reproduces_nodes_and_smooth_field():
    k, sigma = 10.0, 0.05
    solver = FDFD(k, 160)
    sol = solver.solve(lambda p: gaussian_source(p, sigma=sigma))
    nodes = solver.points[::97]
    assert np.allclose(sol(nodes), sol.u.ravel()[::97], rtol=0, atol=1e-12)
    rng = np.random.default_rng(0)
    p = rng.uniform(-0.5, 0.5, (300, 2))
    exact = helmholtz_uniform(p, k, sigma=sigma)
    # Off the nodes the error is the grid's own O(h²) error (~2.4e-3 here) plus a smaller spline error.
    assert np.linalg.norm(sol(p) - exact) / np.linalg.norm(exact) < 4e-3
    with pytest.raises(ValueError, match="lie in"):
        sol(np.array([[1.5, 0.0]]))


def test_pml_damps_the_outgoing_wave_towards_the_outer_wall():
    k, sigma, a0, w = 20.0, 0.03, 5.0, 0.5
    solver = FDFD(k, 200, pml_width=w, pml_strength=a0)
    sol = solver.solve(lambda p: gaussian_source(p, sigma=sigma))
    i0 = 100  # x = 0 row index; the x-axis is column index 100 too
    x = solver.x

    def amplitude(xc):
        # |u| at distance xc along the four half-axes, averaged (the field is symmetric)
        j = int(round((xc + 1) / solver.h))
        jm = 200 - j
        return np.mean(np.abs([sol.u[j, i0], sol.u[jm, i0], sol.u[i0, j], sol.u[i0, jm]]))

    x_in, x_deep = 0.5, 0.9
    ratio = amplitude(x_deep) / amplitude(x_in)
    # Continuous prediction: exp(-k a0 d³/(3 w²)) times the cylindrical spreading sqrt(x_in/x_deep).
    d = x_deep - x_in
    predicted = np.exp(-k * a0 * d**3 / (3 * w**2)) * np.sqrt(x_in / x_deep)
    assert predicted / 2 < ratio < 2 * predicted, (ratio, predicted)
    assert predicted < 2e-4
    # Without a PML the Dirichlet box reflects and nothing decays between the same two radii.
    box = FDFD(k, 200, pml_width=0.0).solve(lambda p: gaussian_source(p, sigma=sigma))
    assert np.abs(box.u[180, i0]) / np.abs(box.u[150, i0]) > 1e-2
    assert x[150] == pytest.approx(0.5) and x[180] == pytest.approx(0.8)


def test_pml_stretch_profile():
    s, ds = pml_stretch(np.array([-1.0, -0.75, 0.0, 0.4, 0.75, 1.0]))
    assert np.allclose(s.real, 1.0)
    assert np.allclose(s.imag, [5.0, 1.25, 0.0, 0.0, 1.25, 5.0])
    assert np.allclose(ds.imag, [-20.0, -10.0, 0.0, 0.0, 10.0, 20.0])


def test_fdfd_heterogeneous_medium_and_bad_input():
    def slowness2(p):
        return np.where(np.abs(p).max(axis=1) < 0.25, 0.25, 1.0)

    solver = FDFD(12.0, 120, slowness2=slowness2)
    sol = solver.solve(lambda p: gaussian_source(p, center=(0.3, 0.0), sigma=0.05))
    assert solver.residual(sol) < 1e-10
    uniform = FDFD(12.0, 120).solve(lambda p: gaussian_source(p, center=(0.3, 0.0), sigma=0.05))
    # The inclusion scatters: the field changes by a sizeable fraction.
    assert np.linalg.norm(sol.u - uniform.u) / np.linalg.norm(uniform.u) > 0.1
    with pytest.raises(ValueError, match="slowness"):
        FDFD(12.0, 40, slowness2=-np.ones((41, 41)))
    with pytest.raises(ValueError, match="shape"):
        FDFD(12.0, 40, slowness2=np.ones((40, 40)))
    with pytest.raises(ValueError, match="non-finite"):
        FDFD(12.0, 40).solve(np.full((41, 41), np.nan))


def test_fdfd_heterogeneous_medium_manufactured_solution_converges_at_second_order():
    # An independent check of the varying-medium solve: choose u = phi(x) psi(y) with
    # phi = cos(pi x / 2) e^{0.3 x}, psi = cos(pi y / 2) e^{-0.2 y} (zero on the wall of [-1, 1]^2),
    # a smooth medium m = 1 + 0.5 exp(-|p - (0.2, -0.1)|^2 / 0.1), k = 2.5 (k^2 m between the box's
    # first two Dirichlet eigenvalues), and the source f = -(Δu + k^2 m u) written out by hand.
    # No PML, so the exact u is the continuous solution. Measured max errors relative to max |u|:
    # 4.7e-3, 1.19e-3, 2.98e-4, 7.45e-5 at n = 20-160; observed order 1.99.
    k = 2.5

    def factor(t, b, a):  # c e and its second derivative ((a^2 - b^2) c - 2 a b s) e
        c, s, e = np.cos(b * t), np.sin(b * t), np.exp(a * t)
        return c * e, ((a * a - b * b) * c - 2 * a * b * s) * e

    def exact(p):
        fx, fxx = factor(p[:, 0], np.pi / 2, 0.3)
        fy, fyy = factor(p[:, 1], np.pi / 2, -0.2)
        return fx * fy, fxx * fy + fx * fyy

    def medium(p):
        return 1 + 0.5 * np.exp(-((p[:, 0] - 0.2) ** 2 + (p[:, 1] + 0.1) ** 2) / 0.1)

    def source(p):
        u, lap = exact(p)
        return -(lap + k**2 * medium(p) * u)

    ns, errors = [20, 40, 80, 160], []
    for n in ns:
        solver = FDFD(k, n, pml_width=0.0, slowness2=medium)
        sol = solver.solve(source)
        u = exact(solver.points)[0].reshape(n + 1, n + 1)
        errors.append(np.abs(sol.u - u).max() / np.abs(u).max())
    slope = np.polyfit(np.log(2.0 / np.array(ns)), np.log(errors), 1)[0]
    assert 1.9 < slope < 2.1, (errors, slope)
    assert errors[-1] < 1e-4, errors  # the constant too: 7.45e-5 measured
    # a solver that ignored the medium would miss by order one (measured 0.55)
    uniform = FDFD(k, 80, pml_width=0.0).solve(source)
    u80 = exact(FDFD(k, 80, pml_width=0.0).points)[0].reshape(81, 81)
    assert np.abs(uniform.u - u80).max() / np.abs(u80).max() > 0.1
