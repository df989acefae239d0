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
