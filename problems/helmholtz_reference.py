"""Reference solutions of the 2D Helmholtz equation, computed with numpy/scipy only.

Sign convention (used everywhere in sirenpde)
--------------------------------------------
Time dependence ``exp(-i omega t)``; the complex field ``u`` solves

    Δu + k² m(x) u = -f(x),        m(x) = 1 / c(x)²  (squared slowness, background 1)

with the outgoing (Sommerfeld) condition. For ``m = 1`` and ``f = δ`` the solution is the
outgoing Green's function ``G(r) = (i/4) H0^(1)(k r)``. An outgoing wave behaves as
``exp(+i k r)``, so a perfectly matched layer stretches coordinates as
``x -> x + (i/k) ∫ σ``, i.e. derivatives are divided by ``s(x) = 1 + i σ(x) / k``.

Contents
--------
- :func:`gaussian_source`: a unit-integral Gaussian ``f`` (per-coordinate standard deviation ``sigma``;
  the SIREN paper uses variance ``sigma**2 = 1e-4``);
- :func:`radial_gaussian_solution` / :func:`helmholtz_uniform`: the exact outgoing solution ``G * f``
  for that source in a uniform medium, by a 1D radial quadrature (Graf's addition theorem);
- :func:`pml_stretch`: the stretching factor of the absorbing band;
- :class:`FDFD`: a second-order finite-difference frequency-domain solver with a PML, for any
  squared-slowness map, returning :class:`FDFDSolution` (grid field plus interpolation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.ndimage import map_coordinates, spline_filter
from scipy.special import hankel1, j0, j1

# Beyond this many standard deviations the Gaussian is below 1e-31 of its peak.
_CUTOFF_SIGMAS = 12.0


def gaussian_source(points, center=(0.0, 0.0), sigma: float = 0.01) -> np.ndarray:
    """Unit-integral 2D Gaussian ``exp(-|x-c|²/(2 σ²)) / (2 π σ²)``.

    Parameters
    ----------
    points : (n, 2) float
    center : (2,) float
    sigma : float, standard deviation per coordinate (variance ``sigma**2``)

    Returns
    -------
    (n,) float
    """
    p = np.asarray(points, dtype=float)
    r2 = np.sum((p - np.asarray(center, dtype=float)) ** 2, axis=-1)
    return np.exp(-r2 / (2.0 * sigma**2)) / (2.0 * np.pi * sigma**2)


def green_2d(r, k: float) -> np.ndarray:
    """Outgoing free-space Green's function ``(i/4) H0^(1)(k r)`` of ``Δ + k²`` (``ΔG + k²G = -δ``)."""
    return 0.25j * hankel1(0, k * np.asarray(r, dtype=float))


def _gauss_legendre(a, b, nodes: int):
    """Nodes and weights of ``nodes``-point Gauss-Legendre on each interval [a_i, b_i]; shapes (m, nodes)."""
    t, w = np.polynomial.legendre.leggauss(nodes)
    a = np.asarray(a, dtype=float)[:, None]
    b = np.asarray(b, dtype=float)[:, None]
    half = 0.5 * (b - a)
    return a + half * (t + 1.0), half * w


def radial_gaussian_solution(r, k: float, sigma: float, nodes: int = 160, derivative: bool = False):
    """Exact outgoing solution of ``Δu + k²u = -g`` for the unit Gaussian ``g`` of width ``sigma``.

    With Graf's addition theorem the angular integral of ``G(|x-y|)`` against a radial source keeps
    only the zeroth mode:

        u(r) = (i/4) 2π [ H0(kr) ∫_0^r J0(kρ) g(ρ) ρ dρ + J0(kr) ∫_r^∞ H0(kρ) g(ρ) ρ dρ ].

    Both integrals are done by Gauss-Legendre; the second in ``log ρ`` so the logarithmic singularity
    of Y0 at the origin is harmless. Beyond ``12 sigma`` the source vanishes (< 1e-31) and the
    formula reduces to ``G(r) · 2π ∫_0^∞ J0 g ρ dρ = G(r) exp(-k² σ²/2)`` (the far-field damping).

    Parameters
    ----------
    r : (n,) float, distances to the source centre (>= 0)
    k : float, wavenumber
    sigma : float, source standard deviation
    nodes : int, quadrature nodes per integral (160 gives ~1e-12 relative accuracy)
    derivative : bool, also return ``du/dr``. Differentiating the formula above, the terms with
        ``g(r)`` cancel and ``u'(r) = -(i/4) 2π k [H1(kr) ∫_0^r J0 g ρ dρ + J1(kr) ∫_r^∞ H0 g ρ dρ]``

    Returns
    -------
    (n,) complex, or ``(u, du/dr)`` with ``derivative=True``
    """
    r = np.asarray(r, dtype=float)
    shape = r.shape
    r = r.ravel()
    if np.any(r < 0) or not np.all(np.isfinite(r)):
        raise ValueError("radial_gaussian_solution: distances must be finite and >= 0")
    if not (sigma > 0 and k > 0):
        raise ValueError(f"radial_gaussian_solution: need sigma > 0 and k > 0, got sigma={sigma}, k={k}")
    big_r = _CUTOFF_SIGMAS * sigma

    def g(rho):
        return np.exp(-rho**2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)

    # Integral over the whole support, shared by all far points.
    rho, w = _gauss_legendre([0.0], [big_r], nodes)
    inner_total = np.sum(j0(k * rho) * g(rho) * rho * w)
    kr = k * np.maximum(r, 1e-300)
    out = 0.25j * hankel1(0, kr) * (2 * np.pi * inner_total)
    dout = -0.25j * k * hankel1(1, kr) * (2 * np.pi * inner_total) if derivative else None

    near = r < big_r
    if np.any(near):
        rn = r[near]
        # Below this radius the terms H0(kr)·r² and the omitted ∫_0^r of ρ² log ρ are < 1e-30.
        rn_eff = np.maximum(rn, 1e-14 * sigma)
        rho, w = _gauss_legendre(np.zeros_like(rn_eff), rn_eff, nodes)
        inner = np.sum(j0(k * rho) * g(rho) * rho * w, axis=1)
        v, wv = _gauss_legendre(np.log(rn_eff), np.full_like(rn_eff, np.log(big_r)), nodes)
        rho = np.exp(v)
        outer = np.sum(hankel1(0, k * rho) * g(rho) * rho * rho * wv, axis=1)
        first = np.where(rn > 0, hankel1(0, k * rn_eff) * inner, 0.0)
        out[near] = 0.25j * 2 * np.pi * (first + j0(k * rn) * outer)
        if derivative:  # H1(kr) ~ 1/r times an inner integral ~ r^2: zero at the centre
            dfirst = np.where(rn > 0, hankel1(1, k * rn_eff) * inner, 0.0)
            dout[near] = -0.25j * 2 * np.pi * k * (dfirst + j1(k * rn) * outer)
    if derivative:
        return out.reshape(shape), dout.reshape(shape)
    return out.reshape(shape)


def helmholtz_uniform(points, k: float, center=(0.0, 0.0), sigma: float = 0.01) -> np.ndarray:
    """Exact outgoing field of a Gaussian source in a uniform medium at ``points``.

    Parameters
    ----------
    points : (n, 2) float
    k : float
    center : (2,) float, source centre
    sigma : float, source standard deviation

    Returns
    -------
    (n,) complex
    """
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"helmholtz_uniform: points must have shape (n, 2), got {p.shape}")
    r = np.linalg.norm(p - np.asarray(center, dtype=float), axis=1)
    return radial_gaussian_solution(r, k, sigma)


def pml_stretch(x, half_width: float = 1.0, pml_width: float = 0.5, strength: float = 5.0):
    """Stretching factor ``s(x) = 1 + i a0 (d/w)²`` and its derivative along one coordinate.

    ``d`` is the depth into the absorbing band ``half_width - pml_width < |x| <= half_width`` and
    ``w = pml_width``. This is ``σ(x) = k a0 (d/w)²`` in ``s = 1 + iσ/k``, so an outgoing wave
    crossing the whole band is damped by ``exp(-k a0 w / 3)``.

    Returns
    -------
    s, ds_dx : complex arrays shaped like ``x``
    """
    x = np.asarray(x, dtype=float)
    inner = half_width - pml_width
    d = np.maximum(np.abs(x) - inner, 0.0)
    s = 1.0 + 1j * strength * (d / pml_width) ** 2
    ds = 1j * strength * 2.0 * d / pml_width**2 * np.sign(x)
    return s, ds


@dataclass
class FDFDSolution:
    """Field from :class:`FDFD` on the node grid ``x`` × ``x`` (index ``[i, j]`` is ``(x[i], y[j])``).

    Attributes
    ----------
    x : (N+1,) float, node coordinates (the same along both axes)
    u : (N+1, N+1) complex, the field (zero on the outer Dirichlet wall)
    rhs : (N+1, N+1) complex, ``-f`` at the nodes
    """

    x: np.ndarray
    u: np.ndarray
    rhs: np.ndarray
    _coef: tuple | None = None

    @property
    def h(self) -> float:
        return float(self.x[1] - self.x[0])

    def __call__(self, points) -> np.ndarray:
        """Cubic-spline interpolation of the field; ``points`` (n, 2) inside the grid -> (n,) complex."""
        p = np.asarray(points, dtype=float)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"FDFDSolution: points must have shape (n, 2), got {p.shape}")
        lo, hi = self.x[0], self.x[-1]
        if np.any(p < lo - 1e-9) or np.any(p > hi + 1e-9):
            raise ValueError(f"FDFDSolution: points must lie in [{lo}, {hi}]^2")
        if self._coef is None:
            self._coef = (spline_filter(self.u.real, order=3, mode="mirror"),
                          spline_filter(self.u.imag, order=3, mode="mirror"))
        idx = ((p - lo) / self.h).T
        re = map_coordinates(self._coef[0], idx, order=3, mode="mirror", prefilter=False)
        im = map_coordinates(self._coef[1], idx, order=3, mode="mirror", prefilter=False)
        return re + 1j * im


class FDFD:
    """Finite-difference frequency-domain solver of ``Δu + k² m u = -f`` on ``[-L, L]²`` with a PML.

    Five-point stencil on ``N+1`` nodes per axis (spacing ``h = 2L/N``), Dirichlet ``u = 0`` on the
    outer wall behind the PML. In the band the operator is the stretched Laplacian

        (1/s_x) ∂x((1/s_x) ∂x u) + (1/s_y) ∂y((1/s_y) ∂y u),

    with ``1/s`` at half-nodes for the inner derivative, which keeps the scheme second order.
    The assembled matrix is this operator with every row multiplied by ``s_x s_y`` (complex symmetric).
    The sparse LU factorisation is cached, so several sources cost one solve each.

    Parameters
    ----------
    k : float, wavenumber in the background (``m = 1``)
    n : int, number of grid intervals per axis (N)
    half_width : float, L
    pml_width, pml_strength : band width and ``a0`` (see :func:`pml_stretch`)
    slowness2 : None (uniform), a callable ``(n, 2) -> (n,)``, or an ``(N+1, N+1)`` array of ``m``
        at the nodes
    """

    def __init__(self, k: float, n: int, half_width: float = 1.0, pml_width: float = 0.5,
                 pml_strength: float = 5.0, slowness2=None):
        if not (k > 0 and np.isfinite(k)):
            raise ValueError(f"FDFD: k must be a positive number, got {k}")
        if int(n) != n or n < 4:
            raise ValueError(f"FDFD: n must be an integer >= 4, got {n}")
        if not (0 <= pml_width < half_width):
            raise ValueError(f"FDFD: need 0 <= pml_width < half_width, got {pml_width}, {half_width}")
        self.k, self.n, self.half_width = float(k), int(n), float(half_width)
        self.pml_width, self.pml_strength = float(pml_width), float(pml_strength)
        self.x = np.linspace(-half_width, half_width, self.n + 1)
        self.h = 2 * half_width / self.n
        xx, yy = np.meshgrid(self.x, self.x, indexing="ij")
        self.points = np.stack([xx.ravel(), yy.ravel()], axis=1)
        if slowness2 is None:
            m = np.ones((self.n + 1, self.n + 1))
        elif callable(slowness2):
            m = np.asarray(slowness2(self.points), dtype=float).reshape(self.n + 1, self.n + 1)
        else:
            m = np.asarray(slowness2, dtype=float)
            if m.shape != (self.n + 1, self.n + 1):
                raise ValueError(f"FDFD: slowness2 array must have shape {(self.n + 1,) * 2}, got {m.shape}")
        if not np.all(np.isfinite(m)) or np.any(m <= 0):
            raise ValueError("FDFD: squared slowness must be finite and > 0 everywhere on the grid")
        self.m = m
        self.matrix = self._assemble()
        self._lu = None

    def _stretch(self, x):
        if self.pml_width == 0:
            return np.ones_like(x, dtype=complex)
        return pml_stretch(x, self.half_width, self.pml_width, self.pml_strength)[0]

    def _assemble(self) -> sp.csc_matrix:
        # Rows are multiplied by s_x s_y: the stretched operator becomes
        # ∂x((s_y/s_x) ∂x u) + ∂y((s_x/s_y) ∂y u) + s_x s_y k² m u, a complex *symmetric* matrix,
        # which lets SuperLU factorise in symmetric mode (several times faster on these grids).
        x = self.x
        s = self._stretch(x[1:-1])
        inv_half = 1.0 / self._stretch(0.5 * (x[:-1] + x[1:]))  # half-node i+1/2 at index i
        d = sp.diags([inv_half[1:-1], -(inv_half[:-1] + inv_half[1:]), inv_half[1:-1]], [-1, 0, 1],
                     format="csr") / self.h**2
        sdiag = sp.diags(s)
        # unknown (i, j) -> row i*(N-1) + j with i along x
        lap = sp.kron(d, sdiag) + sp.kron(sdiag, d)
        self._scale = np.outer(s, s)
        mass = sp.diags((self._scale * self.k**2 * self.m[1:-1, 1:-1]).ravel())
        return (lap + mass).tocsc()

    def factorize(self):
        """Sparse LU of the operator (cached; done on the first :meth:`solve`)."""
        if self._lu is None:
            self._lu = spla.splu(self.matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1,
                                 options=dict(SymmetricMode=True))
        return self._lu

    def solve(self, source) -> FDFDSolution:
        """Solve for a source ``f``: a callable ``(n, 2) -> (n,)`` or an ``(N+1, N+1)`` array at the nodes."""
        if callable(source):
            f = np.asarray(source(self.points)).reshape(self.n + 1, self.n + 1)
        else:
            f = np.asarray(source)
            if f.shape != (self.n + 1, self.n + 1):
                raise ValueError(f"FDFD.solve: source array must have shape {(self.n + 1,) * 2}, "
                                 f"got {f.shape}")
        if not np.all(np.isfinite(f)):
            raise ValueError("FDFD.solve: source has non-finite values")
        rhs = -f.astype(complex)
        b = (self._scale * rhs[1:-1, 1:-1]).ravel()
        inner = self.factorize().solve(b)
        u = np.zeros((self.n + 1, self.n + 1), dtype=complex)
        u[1:-1, 1:-1] = inner.reshape(self.n - 1, self.n - 1)
        return FDFDSolution(self.x, u, rhs)

    def residual(self, solution: FDFDSolution) -> float:
        """Relative residual ``|A u - b| / |b|`` of the assembled discrete equation."""
        b = (self._scale * solution.rhs[1:-1, 1:-1]).ravel()
        r = self.matrix @ solution.u[1:-1, 1:-1].ravel() - b
        return float(np.linalg.norm(r) / max(np.linalg.norm(b), 1e-300))
