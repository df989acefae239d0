"""Exact derivatives of an image's cosine interpolant, and the Poisson solves that invert them.

An ``N``-pixel axis over [-1, 1] carries the cosine series
``f(x) = sum_k a_k w_k cos(mu_k (x + 1))``, ``mu_k = pi k / 2``, whose values at the pixel
centres are the image (``a = dct(image)``, orthonormal DCT-II). Its derivatives at the
pixel centres are exact sine/cosine transforms, so a network that equals this smooth
function has zero loss on gradient or Laplacian targets computed here. The Poisson
solves are exact for the same discrete operators: they diagonalise in the DCT basis.
"""
from __future__ import annotations

import numpy as np
from scipy import fft


def _mu(n: int) -> np.ndarray:
    return np.pi * np.arange(n) / 2.0


def _shape(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    s = [1] * ndim
    s[axis] = -1
    return v.reshape(s)


def derivative(img: np.ndarray, axis: int) -> np.ndarray:
    """d img / d x_axis at the pixel centres."""
    n = img.shape[axis]
    a = fft.dct(img, type=2, norm="ortho", axis=axis)
    b = -_shape(_mu(n), axis, img.ndim) * a
    # sine frequency k (1..n-1) sits at index k-1 of the DST; index n-1 (frequency n) is empty
    b = np.roll(b, -1, axis=axis)
    idx = [slice(None)] * img.ndim
    idx[axis] = n - 1
    b[tuple(idx)] = 0.0
    return fft.idst(b, type=2, norm="ortho", axis=axis)


def second_derivative(img: np.ndarray, axis: int) -> np.ndarray:
    """d2 img / d x_axis^2 at the pixel centres."""
    n = img.shape[axis]
    a = fft.dct(img, type=2, norm="ortho", axis=axis)
    return fft.idct(-_shape(_mu(n) ** 2, axis, img.ndim) * a, type=2, norm="ortho", axis=axis)


def gradient(img: np.ndarray) -> np.ndarray:
    """``(H, W, 2)``: derivatives along coordinates 0 (rows) and 1 (columns)."""
    return np.stack([derivative(img, 0), derivative(img, 1)], axis=-1)


def laplacian(img: np.ndarray) -> np.ndarray:
    return second_derivative(img, 0) + second_derivative(img, 1)


def _eigenvalues(shape) -> np.ndarray:
    m0, m1 = _mu(shape[0]) ** 2, _mu(shape[1]) ** 2
    return m0[:, None] + m1[None, :]


def solve_laplacian(lap: np.ndarray) -> np.ndarray:
    """The zero-mean image whose cosine-interpolant Laplacian is ``lap`` (exact DCT solve)."""
    lap = np.asarray(lap, dtype=np.float64)
    c = fft.dctn(lap, type=2, norm="ortho")
    lam = _eigenvalues(lap.shape)
    lam[0, 0] = 1.0
    c = -c / lam
    c[0, 0] = 0.0
    return fft.idctn(c, type=2, norm="ortho")


def solve_gradient(grad: np.ndarray) -> np.ndarray:
    """The zero-mean image whose cosine-interpolant gradient is closest to ``grad`` ``(H, W, 2)``
    in least squares over the pixel centres (exact when ``grad`` is a gradient)."""
    grad = np.asarray(grad, dtype=np.float64)
    if grad.ndim != 3 or grad.shape[-1] != 2:
        raise ValueError(f"solve_gradient: expected an (H, W, 2) array, got {grad.shape}")
    h, w = grad.shape[:2]
    mu0, mu1 = _mu(h)[:, None], _mu(w)[None, :]
    # sine coefficients of each component, shifted so that index k holds frequency k
    s0 = fft.dct(fft.dst(grad[..., 0], type=2, norm="ortho", axis=0), type=2, norm="ortho", axis=1)
    s1 = fft.dct(fft.dst(grad[..., 1], type=2, norm="ortho", axis=1), type=2, norm="ortho", axis=0)
    g0 = np.zeros((h, w))
    g0[1:] = s0[:-1]
    g1 = np.zeros((h, w))
    g1[:, 1:] = s1[:, :-1]
    lam = mu0**2 + mu1**2
    lam[0, 0] = 1.0
    c = -(mu0 * g0 + mu1 * g1) / lam
    c[0, 0] = 0.0
    return fft.idctn(c, type=2, norm="ortho")
