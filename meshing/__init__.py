"""sirenpde.meshing: SDF (a network or any callable) -> watertight triangle mesh -> .ply.

Front door::

    from sirenpde.meshing import extract_mesh, export_ply
    mesh = extract_mesh(model, bounds=((-1, -1, -1), (1, 1, 1)), resolution=256)
    export_ply(mesh, "shape.ply")

Modules: :mod:`.grid` (grid, batched evaluation), :mod:`.marching` (blockwise marching cubes
and exact vertex naming), :mod:`.dense` and :mod:`.sparse` (the two evaluation strategies),
:mod:`.extract` (``extract_mesh``), :mod:`.cost` (``estimate_cost``: evaluations, memory and time
before a run), :mod:`.export` (PLY, cleanup), :mod:`.sdfs` (analytic shapes).
"""
from sirenpde.meshing.cost import MeshCost, MeshTooLargeError, estimate_cost
from sirenpde.meshing.export import export_ply, remove_small_components
from sirenpde.meshing.extract import NoSurfaceError, extract_mesh
from sirenpde.meshing.sdfs import Box, Sphere, Torus, Union

__all__ = ["extract_mesh", "estimate_cost", "MeshCost", "MeshTooLargeError", "NoSurfaceError", "export_ply", "remove_small_components", "Sphere", "Torus", "Box", "Union"]
