"""Checks of input files, done once where a file enters the package."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence


def input_file(path, extensions: Sequence[str], what: str) -> Path:
    """``path`` as a Path after checking that it exists, is a file and has one of ``extensions``.

    Raises FileNotFoundError (missing) or ValueError (a folder, an unsupported extension), each
    naming the file and ``what`` it should be ("mesh", "point cloud")."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    ext = path.suffix.lower()
    if ext not in extensions:
        raise ValueError(f"{path}: unsupported {what} extension {ext!r}; supported: {', '.join(extensions)}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a {what} file")
    return path


def read_image(path):
    """The pixels of the image file ``path`` as a numpy array, as decoded by scikit-image.

    A file that cannot be decoded (a text file named ``.png``, a damaged JPEG) is a one-line
    ``ValueError`` naming the file: imageio's own message advises installing video plugins, which is
    no help for a mislabelled or damaged image."""
    from skimage import io

    try:
        return io.imread(path)
    except Exception as err:  # imageio and PIL raise many types for unreadable files
        raise ValueError(f"could not read image file {path}: it is not a PNG, JPEG, TIFF or BMP image that "
                         f"can be decoded ({type(err).__name__})") from None


def first_non_finite(array) -> str:
    """Where the first NaN or infinite value of ``array`` is and which it is, e.g. ``"NaN at row 3,
    column 4 (1 of 625 values)"``; empty when every value is finite."""
    import numpy as np

    bad = ~np.isfinite(array)
    if not bad.any():
        return ""
    index = np.unravel_index(int(np.argmax(bad)), array.shape)
    value = array[index]
    kind = "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
    where = ", ".join(f"{axis} {i}" for axis, i in zip(("row", "column", "channel"), index))
    return f"{kind} at {where} ({int(bad.sum())} of {array.size} values)"
