"""Writing meshes to ``.ply`` and removing small connected components."""
from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np
import trimesh

from sirenpde.io.atomic import atomic_path


def export_ply(mesh: trimesh.Trimesh, path: str | os.PathLike, binary: bool = True) -> Path:
    """Write ``mesh`` to ``path`` as PLY (binary little-endian or ASCII), atomically.

    The file appears only once it is complete; an empty mesh raises ``ValueError`` and writes
    nothing. Vertex coordinates are stored as PLY ``float`` (float32), as trimesh writes them.
    Returns the path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise ValueError(f"export_ply writes PLY; the path should end in .ply, got {str(path)!r}")
    if not isinstance(mesh, trimesh.Trimesh):
        raise ValueError(f"export_ply needs a trimesh.Trimesh; got {type(mesh).__name__}")
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise ValueError(
            f"refusing to write an empty mesh ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces) "
            f"to {str(path)!r}"
        )
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type="ply", encoding="binary" if binary else "ascii")
    return path


def component_labels(mesh: trimesh.Trimesh) -> np.ndarray:
    """(f,) int: connected-component label of each face (faces joined through shared edges)."""
    return trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(mesh.faces))


def remove_small_components(mesh: trimesh.Trimesh, keep="largest") -> trimesh.Trimesh:
    """Drop small connected components; return a new mesh (metadata copied).

    keep : "largest" or float
        ``"largest"`` keeps only the component with the most faces; a fraction in (0, 1] keeps
        every component with at least that fraction of all faces. The largest component is
        always kept.
    """
    fraction = not isinstance(keep, bool) and isinstance(keep, numbers.Real) and 0 < keep <= 1
    if keep != "largest" and not fraction:
        raise ValueError(f"keep must be 'largest' or a face fraction in (0, 1]; got {keep!r}")
    faces = np.asarray(mesh.faces)
    if len(faces) == 0:
        raise ValueError("cannot clean up an empty mesh")
    labels = component_labels(mesh)
    counts = np.bincount(labels)
    largest = int(np.argmax(counts))
    kept = np.zeros(len(counts), dtype=bool)
    kept[largest] = True
    if keep != "largest":
        kept |= counts >= keep * len(faces)
    faces = faces[kept[labels]]
    used, remap = np.unique(faces, return_inverse=True)
    out = trimesh.Trimesh(vertices=np.asarray(mesh.vertices)[used], faces=remap.reshape(-1, 3), process=False)
    out.metadata.update(mesh.metadata)
    out.metadata["components_removed"] = int(len(counts) - kept.sum())
    return out
