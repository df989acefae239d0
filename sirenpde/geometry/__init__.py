"""sirenpde.geometry: domains for PDEs, with sampling, normals, parts and distance functions.

Front door::

    from sirenpde.geometry import Rectangle, Disk
    square = Rectangle([-0.5, -0.5], [0.5, 0.5])
    holes = Disk([0.3, 0.3], 0.1) | Disk([-0.3, -0.3], 0.1)
    plate = square - holes
    x, normal = plate.sample_boundary(1000, generator, part=holes.boundary)

Modules: :mod:`.base` (``Geometry``, ``BoundaryPart``, R-functions), :mod:`.primitives`
(Interval, Rectangle, Cuboid, Disk, Ball, Cylinder), :mod:`.polygon`, :mod:`.csg` (``|``, ``&``,
``-``), :mod:`.time` (``TimeDomain``), :mod:`.mesh` (``MeshDomain``, a watertight triangle mesh)
and :mod:`.fitted` (``FittedShape``, a SIREN SDF from ``sirenpde fit-sdf``). Names load on first use.
"""
from sirenpde._lazy import lazy_exports

_EXPORTS = {
    "Geometry": "sirenpde.geometry.base", "BoundaryPart": "sirenpde.geometry.base",
    "Interval": "sirenpde.geometry.primitives", "Rectangle": "sirenpde.geometry.primitives",
    "Cuboid": "sirenpde.geometry.primitives", "Disk": "sirenpde.geometry.primitives",
    "Ball": "sirenpde.geometry.primitives", "Cylinder": "sirenpde.geometry.primitives",
    "Polygon": "sirenpde.geometry.polygon", "TimeDomain": "sirenpde.geometry.time",
    "MeshDomain": "sirenpde.geometry.mesh", "FittedShape": "sirenpde.geometry.fitted",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
