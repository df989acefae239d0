"""Source subtraction for the Helmholtz problem: the network learns the field minus a known,
compactly supported singular part.

A narrow Gaussian source (the paper's sigma = 0.01) makes the field a logarithmic spike of width
sigma at the source: the residual there is hundreds of times larger than in the wave region, and
a network trained on it fits the spike and barely radiates (measured rel L2 0.85 at k = 20 after
4000 CPU steps). Writing

    u = v + chi(r) G(r),

with ``G`` the exact outgoing field of the same Gaussian source in the medium at the source
(radial quadrature, :func:`~sirenpde.problems.helmholtz_reference.radial_gaussian_solution`) and
``chi`` a C2 cutoff equal to 1 for ``r <= r1`` and 0 for ``r >= r2``, leaves the network ``v``,
which is smooth: with ``ΔG + k_s² G = -f`` (``k_s² = k² m(source)``) the equation for ``v`` is

    L v + (1 - chi) f + 2 chi' G' + G (chi'' + chi'/r) + chi G (k² m - k_s²) = 0,

where ``L`` is the problem's operator (stretched Laplacian plus ``k² m``, with the absorption
continuation's complex ``k²``). The known terms live in the annulus ``r1 < r < r2`` (and, for a
varying medium, where ``m`` differs from its value at the source). Nothing is assumed about the
solution outside ``r2``: the network still has to carry the wave through the domain and the
absorbing layer, and the error is measured on ``u``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from sirenpde.problems.helmholtz_reference import gaussian_source, radial_gaussian_solution

# the cutoff ends at most this far from the source, and starts at half that radius
MAX_RADIUS = 0.25
# the cutoff must start at least this many source widths out, so the source lies inside chi = 1
MIN_SIGMAS = 6.0
# intervals of the radial table of G (cubic Hermite on [0, r2]; measured error ~1e-10 relative)
TABLE_INTERVALS = 4096


@lru_cache(maxsize=16)
def _radial_table(k_source: float, sigma: float, r2: float):
    """G, G' and G'' on a radial grid of ``[0, r2]``: the quadrature costs ~0.1 ms a point, too slow
    for every batch; G'' = -G'/r - k_s² G - f from the radial equation (at r = 0: (-k_s² G - f) / 2)."""
    h = r2 / TABLE_INTERVALS
    r = np.arange(TABLE_INTERVALS + 2) * h  # one node past r2
    g, dg = radial_gaussian_solution(r, k_source, sigma, derivative=True)
    f = gaussian_source(np.stack([r, np.zeros_like(r)], 1), (0.0, 0.0), sigma)
    ddg = np.empty_like(g)
    ddg[1:] = -dg[1:] / r[1:] - k_source**2 * g[1:] - f[1:]
    ddg[0] = 0.5 * (-k_source**2 * g[0] - f[0])
    for a in (g, dg, ddg):
        a.setflags(write=False)
    return g, dg, ddg


def _smoothstep(t):
    """C2 step 1 -> 0 on t in [0, 1] and its first two derivatives in t."""
    t = np.clip(t, 0.0, 1.0)
    value = 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t * t)
    d1 = -30.0 * t * t * (1.0 - t) ** 2
    d2 = -60.0 * t * (1.0 - t) * (1.0 - 2.0 * t)
    return value, d1, d2


class SourceSubtraction:
    """The singular part ``chi G`` of a Gaussian source and the source terms it leaves for ``v``.

    Parameters
    ----------
    k_source : float, wavenumber of the medium at the source (``k / c(source)``)
    center : (2,) float, source centre
    sigma : float, source standard deviation
    radius : float, ``r2``, where the cutoff reaches 0 (``r1 = radius / 2``)
    """

    def __init__(self, k_source: float, center, sigma: float, radius: float):
        self.k_source, self.sigma = float(k_source), float(sigma)
        self.center = np.asarray(center, dtype=float)
        self.r2 = float(radius)
        self.r1 = 0.5 * self.r2
        self._h = self.r2 / TABLE_INTERVALS
        # the table depends on the medium, the width and the radius, not on the centre: the members
        # of a family of source positions share it
        self._table = _radial_table(self.k_source, self.sigma, self.r2)

    def _radial(self, r):
        """G(r) and G'(r) for ``0 <= r < r2`` by cubic Hermite interpolation of the table."""
        g, dg, ddg = self._table
        i = np.minimum((r / self._h).astype(int), TABLE_INTERVALS)
        t = r / self._h - i
        h00, h10 = (1 + 2 * t) * (1 - t) ** 2, t * (1 - t) ** 2
        h01, h11 = t * t * (3 - 2 * t), t * t * (t - 1)
        value = h00 * g[i] + h10 * self._h * dg[i] + h01 * g[i + 1] + h11 * self._h * dg[i + 1]
        deriv = h00 * dg[i] + h10 * self._h * ddg[i] + h01 * dg[i + 1] + h11 * self._h * ddg[i + 1]
        return value, deriv

    @staticmethod
    def radius_for(center, sigma: float, inner: float):
        """The cutoff radius that keeps the disk inside the physical region ``[-inner, inner]²``,
        or None when that leaves too little room (``r1 < MIN_SIGMAS * sigma``)."""
        room = float(inner - np.max(np.abs(center)))
        radius = min(MAX_RADIUS, room)
        return radius if 0.5 * radius >= MIN_SIGMAS * sigma else None

    def _cutoff(self, r):
        width = self.r2 - self.r1
        value, d1, d2 = _smoothstep((r - self.r1) / width)
        return value, d1 / width, d2 / width**2

    def terms(self, points):
        """``chi G`` and ``(1 - chi) f + 2 chi' G' + G (chi'' + chi'/r)`` at ``points (n, 2)``:
        two complex ``(n,)`` arrays (zero outside the disk of radius ``r2``)."""
        p = np.asarray(points, dtype=float)
        r = np.linalg.norm(p - self.center, axis=1)
        chi_g = np.zeros(len(p), dtype=complex)
        rest = (1.0 - self._cutoff(r)[0]) * gaussian_source(p, self.center, self.sigma)
        rest = rest.astype(complex)
        inside = r < self.r2
        if np.any(inside):
            ri = r[inside]
            g, dg = self._radial(ri)
            chi, dchi, ddchi = self._cutoff(ri)
            # chi' vanishes for r < r1, so chi'/r is only evaluated away from the centre
            lap_chi = ddchi + np.where(ri > 0, dchi / np.maximum(ri, 1e-300), 0.0)
            chi_g[inside] = chi * g
            rest[inside] += 2.0 * dchi * dg + g * lap_chi
        return chi_g, rest

    def describe(self) -> dict:
        return {"r1": self.r1, "r2": self.r2, "k_source": self.k_source}
