"""sirenpde.shapes: oriented point clouds -> a SIREN signed distance function -> a mesh.

Front door::

    from sirenpde.shapes import reconstruct
    out = reconstruct("cloud.xyz", "mesh.ply", steps=2000, resolution=256)

Modules: :mod:`.pointcloud` (read, check, normalise, write and sample clouds), :mod:`.normals`
(estimate them), :mod:`.roughness` (how noisy a cloud looks), :mod:`.model` (``ShapeModel`` and its
file format), :mod:`.fit` (``fit_sdf``, ``mesh_shape``, ``reconstruct``), :mod:`.refine` (a mesh's
vertices moved onto the cloud), :mod:`.preview` (PNG views, rasterised), :mod:`.metrics` (Chamfer,
normal consistency, F-score against a reference mesh).
The names below load on first use, so importing this package costs nothing.
"""
from sirenpde._lazy import lazy_exports

_EXPORTS = {
    "PointCloud": "sirenpde.shapes.pointcloud", "Normalization": "sirenpde.shapes.pointcloud",
    "read_point_cloud": "sirenpde.shapes.pointcloud", "write_xyz": "sirenpde.shapes.pointcloud",
    "sample_surface": "sirenpde.shapes.pointcloud", "add_noise": "sirenpde.shapes.pointcloud",
    "estimate_normals": "sirenpde.shapes.normals", "roughness": "sirenpde.shapes.roughness",
    "ShapeModel": "sirenpde.shapes.model", "load_shape_model": "sirenpde.shapes.model",
    "fit_sdf": "sirenpde.shapes.fit", "mesh_shape": "sirenpde.shapes.fit", "reconstruct": "sirenpde.shapes.fit",
    "Reconstruction": "sirenpde.shapes.fit", "write_preview": "sirenpde.shapes.preview",
    "refine_mesh": "sirenpde.shapes.refine",
    "evaluate_mesh": "sirenpde.shapes.metrics", "load_mesh": "sirenpde.shapes.metrics",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
