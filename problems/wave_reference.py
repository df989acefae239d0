"""Reference solutions of the acoustic wave equation, computed with numpy/scipy only.

The equation is ``u_tt = c(x)² Δu`` on the box ``[-L, L]^d`` (d = 1 or 2) for ``t >= 0`` with
``u(0, x) = u0(x)`` and zero initial velocity ``u_t(0, x) = 0``. Walls are Dirichlet (``u = 0``,
reflecting) unless a periodic box is asked for.

Grids are node grids: ``x_j = -L + j h``, ``h = 2L/N``, ``j = 0..N`` for walls (the wall nodes hold 0)
and ``j = 0..N-1`` for the periodic box.

- :class:`SpectralWave`: exact in time for uniform ``c``: each sine (walls) or Fourier (periodic)
  mode evolves as ``cos(c κ t)``. With ``laplacian="exact"`` κ is the continuous wavenumber, so the
  result is the exact solution for the trigonometric interpolant of ``u0`` (spectrally accurate);
  with ``laplacian="discrete"`` κ² is the eigenvalue of the 3-point stencil, which gives the exact
  time evolution of the semi-discrete system that :func:`leapfrog_wave` discretises in time.
- :func:`leapfrog_wave`: second-order central differences in space and time for a velocity map.
- :func:`dalembert_1d`: ``(f(x - ct) + f(x + ct)) / 2``, the 1D free-space answer.
- :class:`WaveSolution`: frames on a uniform time grid, interpolated to arbitrary ``(t, x[, y])``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import map_coordinates, spline_filter


def gaussian_pulse(points, center=(0.0, 0.0), sigma: float = 0.1, amplitude: float = 1.0) -> np.ndarray:
    """``amplitude · exp(-|x - c|² / (2 σ²))`` at ``points`` (n, d) -> (n,)."""
    p = np.asarray(points, dtype=float)
    c = np.asarray(center, dtype=float)
    if p.ndim != 2 or p.shape[1] != c.shape[0]:
        raise ValueError(f"gaussian_pulse: points must have shape (n, {c.shape[0]}), got {p.shape}")
    return amplitude * np.exp(-np.sum((p - c) ** 2, axis=1) / (2.0 * sigma**2))


def dalembert_1d(f, x, t: float, c: float) -> np.ndarray:
    """d'Alembert solution ``(f(x - c t) + f(x + c t)) / 2`` for ``u_tt = c² u_xx``, ``u_t(0) = 0``."""
    x = np.asarray(x, dtype=float)
    return 0.5 * (f(x - c * t) + f(x + c * t))


def node_grid(n: int, half_width: float = 1.0, periodic: bool = False) -> np.ndarray:
    """Node coordinates: ``N+1`` nodes with walls, ``N`` for a periodic box (whose right end is its left)."""
    if periodic:
        return -half_width + 2 * half_width * np.arange(n) / n
    return np.linspace(-half_width, half_width, n + 1)


def _check_field(u0, ndim_name="u0") -> np.ndarray:
    u0 = np.asarray(u0, dtype=float)
    if u0.ndim not in (1, 2):
        raise ValueError(f"{ndim_name} must be a 1D or 2D grid, got shape {u0.shape}")
    if u0.ndim == 2 and u0.shape[0] != u0.shape[1]:
        raise ValueError(f"{ndim_name} must be a square grid, got shape {u0.shape}")
    if not np.all(np.isfinite(u0)):
        raise ValueError(f"{ndim_name} has non-finite values")
    return u0


class SpectralWave:
    """Exact-in-time wave propagation for a uniform velocity ``c``.

    Parameters
    ----------
    u0 : (N+1,) or (N+1, N+1) float for walls (its wall nodes are ignored: the walls hold 0),
         (N,) or (N, N) for ``bc="periodic"``
    c : float, wave speed
    half_width : float, L
    bc : "dirichlet" or "periodic"
    laplacian : "exact" (continuous wavenumbers) or "discrete" (eigenvalues of the 3-point stencil)
    """

    def __init__(self, u0, c: float, half_width: float = 1.0, bc: str = "dirichlet",
                 laplacian: str = "exact"):
        u0 = _check_field(u0)
        if bc not in ("dirichlet", "periodic"):
            raise ValueError(f"SpectralWave: bc must be 'dirichlet' or 'periodic', got {bc!r}")
        if laplacian not in ("exact", "discrete"):
            raise ValueError(f"SpectralWave: laplacian must be 'exact' or 'discrete', got {laplacian!r}")
        if not (np.isfinite(c) and c > 0):
            raise ValueError(f"SpectralWave: c must be a positive number, got {c}")
        self.c, self.bc, self.half_width, self.ndim = float(c), bc, float(half_width), u0.ndim
        periodic = bc == "periodic"
        self.n = u0.shape[0] if periodic else u0.shape[0] - 1
        self.h = 2 * half_width / self.n
        self.x = node_grid(self.n, half_width, periodic)
        if periodic:
            xi = 2 * np.pi * sfft.fftfreq(self.n, d=self.h)
            kappa2_1d = xi**2 if laplacian == "exact" else (2 / self.h * np.sin(xi * self.h / 2)) ** 2
            self.coef = sfft.fftn(u0)
        else:
            p = np.arange(1, self.n)
            kappa2_1d = ((p * np.pi / (2 * half_width)) ** 2 if laplacian == "exact"
                         else (2 / self.h * np.sin(p * np.pi / (2 * self.n))) ** 2)
            inner = u0[(slice(1, -1),) * self.ndim]
            self.coef = sfft.dstn(inner, type=1)
        grids = np.meshgrid(*([kappa2_1d] * self.ndim), indexing="ij")
        self.kappa = np.sqrt(sum(grids))

    def at(self, t: float) -> np.ndarray:
        """The field at time ``t`` on the node grid (walls included for ``bc="dirichlet"``)."""
        phase = np.cos(self.c * self.kappa * float(t))
        if self.bc == "periodic":
            return sfft.ifftn(self.coef * phase).real
        out = np.zeros((self.n + 1,) * self.ndim)
        out[(slice(1, -1),) * self.ndim] = sfft.idstn(self.coef * phase, type=1)
        return out

    def solution(self, t_end: float, frames: int) -> "WaveSolution":
        """Frames at ``frames`` equispaced times in ``[0, t_end]`` as a :class:`WaveSolution`."""
        times = np.linspace(0.0, t_end, frames)
        return WaveSolution(times, self.x, np.stack([self.at(t) for t in times]))


def _laplacian_interior(u: np.ndarray, h: float) -> np.ndarray:
    """3-point (1D) / 5-point (2D) Laplacian on the interior nodes of a node grid with walls."""
    inner = (slice(1, -1),) * u.ndim
    lap = -2.0 * u.ndim * u[inner]
    for axis in range(u.ndim):
        lo = list(inner)
        hi = list(inner)
        lo[axis] = slice(0, -2)
        hi[axis] = slice(2, None)
        lap = lap + u[tuple(lo)] + u[tuple(hi)]
    return lap / h**2


def leapfrog_wave(u0, c, half_width: float, t_end: float, frames: int, cfl: float = 0.5) -> "WaveSolution":
    """Second-order leapfrog for ``u_tt = c(x)² Δu`` with walls, zero initial velocity.

    ``u^{n+1} = 2u^n - u^{n-1} + dt² c² Δ_h u^n``, started with the Taylor step
    ``u^1 = u^0 + (dt²/2) c² Δ_h u^0``; second order in ``h`` and ``dt``.

    Parameters
    ----------
    u0 : (N+1,) or (N+1, N+1) float, initial field on the node grid (wall nodes are set to 0)
    c : float or array shaped like ``u0``, the velocity map (> 0)
    half_width : float, L
    t_end : float, final time
    frames : int, number of equispaced output times in ``[0, t_end]`` (>= 2)
    cfl : float, ``dt <= cfl · h / (max c · sqrt(d))``; stability needs ``cfl <= 1``

    Returns
    -------
    WaveSolution with ``frames`` frames
    """
    u0 = _check_field(u0)
    c = np.broadcast_to(np.asarray(c, dtype=float), u0.shape)
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("leapfrog_wave: velocity must be finite and > 0 everywhere")
    if not (0 < cfl <= 1):
        raise ValueError(f"leapfrog_wave: need 0 < cfl <= 1, got {cfl}")
    if frames < 2 or t_end <= 0:
        raise ValueError(f"leapfrog_wave: need frames >= 2 and t_end > 0, got {frames}, {t_end}")
    n = u0.shape[0] - 1
    h = 2 * half_width / n
    interval = t_end / (frames - 1)
    dt_max = cfl * h / (c.max() * np.sqrt(u0.ndim))
    sub = int(np.ceil(interval / dt_max - 1e-12))
    dt = interval / sub
    inner = (slice(1, -1),) * u0.ndim
    c2dt2 = (c[inner] * dt) ** 2

    prev = np.zeros_like(u0)
    prev[inner] = u0[inner]
    cur = np.zeros_like(u0)
    cur[inner] = prev[inner] + 0.5 * c2dt2 * _laplacian_interior(prev, h)
    out = [prev.copy()]
    step = 1
    for frame in range(1, frames):
        while step < frame * sub:
            nxt = np.zeros_like(u0)
            nxt[inner] = 2 * cur[inner] - prev[inner] + c2dt2 * _laplacian_interior(cur, h)
            prev, cur = cur, nxt
            step += 1
        out.append(cur.copy())
    times = np.linspace(0.0, t_end, frames)
    return WaveSolution(times, node_grid(n, half_width), np.stack(out))


# Nodes of explicit extension on each side before spline filtering, so the spline's own end
# conditions act outside the data (their influence decays by ~0.27 per node).
_PAD = 8


@dataclass
class WaveSolution:
    """Frames of a wave field: ``u[i]`` is the node-grid field at ``times[i]``.

    Interpolation (``__call__``) is a cubic spline in ``(t, x[, y])`` built on the frames extended
    oddly through the walls (Dirichlet) and evenly through ``t = 0`` (zero initial velocity), so the
    spline is accurate up to the walls and the initial time. Past the last frame nothing is known,
    so the last few frames interpolate less accurately in time: compute a few frames past the
    times you need (as :class:`~sirenpde.problems.wave.Wave` does).

    Attributes
    ----------
    times : (nt,) float, equispaced from 0
    x : (N+1,) float, node coordinates along every space axis
    u : (nt, N+1) or (nt, N+1, N+1) float
    """

    times: np.ndarray
    x: np.ndarray
    u: np.ndarray
    _coef: np.ndarray | None = None

    def padded(self) -> np.ndarray:
        """The frames extended by ``_PAD`` nodes: evenly before ``t = 0``, oddly through every wall,
        and by repeating the end condition after the last frame."""
        u = self.u
        p = min(_PAD, u.shape[0] - 1)
        u = np.concatenate([u[p:0:-1], u], axis=0)
        for axis in range(1, u.ndim):
            q = min(_PAD, u.shape[axis] - 1)
            lo = -np.flip(np.take(u, np.arange(1, q + 1), axis=axis), axis=axis)
            n = u.shape[axis] - 1
            hi = -np.flip(np.take(u, np.arange(n - q, n), axis=axis), axis=axis)
            u = np.concatenate([lo, u, hi], axis=axis)
        return u

    def __call__(self, points) -> np.ndarray:
        """Cubic-spline interpolation in (t, x[, y]); ``points`` (n, 1 + d) with time first -> (n,)."""
        p = np.asarray(points, dtype=float)
        d = self.u.ndim - 1
        if p.ndim != 2 or p.shape[1] != 1 + d:
            raise ValueError(f"WaveSolution: points must have shape (n, {1 + d}) as (t, x..), got {p.shape}")
        t0, t1 = self.times[0], self.times[-1]
        lo, hi = self.x[0], self.x[-1]
        if np.any(p[:, 0] < t0 - 1e-9) or np.any(p[:, 0] > t1 + 1e-9):
            raise ValueError(f"WaveSolution: times must lie in [{t0}, {t1}]")
        if np.any(p[:, 1:] < lo - 1e-9) or np.any(p[:, 1:] > hi + 1e-9):
            raise ValueError(f"WaveSolution: positions must lie in [{lo}, {hi}]")
        if self._coef is None:
            self._coef = spline_filter(self.padded(), order=3, mode="mirror")
        dt = self.times[1] - self.times[0]
        pt = min(_PAD, self.u.shape[0] - 1)
        px = min(_PAD, self.u.shape[1] - 1)
        h = self.x[1] - self.x[0]
        idx = np.concatenate([(p[:, :1] - t0) / dt + pt, (p[:, 1:] - lo) / h + px], axis=1)
        return map_coordinates(self._coef, idx.T, order=3, mode="mirror", prefilter=False)
