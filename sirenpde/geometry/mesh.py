"""A watertight triangle mesh as a domain: ``MeshDomain("part.stl")`` or ``MeshDomain(trimesh_mesh)``.

Inside tests and distances go through open3d's ``RaycastingScene`` (a BVH in float32, so
positions are resolved to about 1e-7 of the coordinates); boundary points are drawn on the faces
in proportion to their area, with the face normals. ``measure`` is the enclosed volume and
``boundary_measure`` the surface area, both exact for the mesh.

The distance is the mesh's signed distance (positive inside), computed for every call from the
closest surface points: exact, with unit gradient, but only piecewise smooth and its second
derivatives are those of a plane (zero). It costs about 4 microseconds a point on one core.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sirenpde.geometry.base import Geometry


class MeshDomain(Geometry):
    """The solid enclosed by a watertight triangle mesh (``.obj``, ``.stl``, ``.ply``, ... or a
    ``trimesh.Trimesh``). Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a
    file that is not one mesh, or a mesh that is not watertight or encloses no volume."""

    dim = 3
    _side_step = 1e-5  # the surface is known to float32 only

    def __init__(self, source):
        import trimesh
        if isinstance(source, trimesh.Trimesh):
            mesh, self.name, self._from_file = source.copy(), "the given trimesh.Trimesh", False
        elif isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"MeshDomain: no mesh file {path}")
            try:
                mesh = trimesh.load(path, force="mesh")
            except Exception as err:  # trimesh raises many types for unreadable files
                raise ValueError(f"MeshDomain: cannot read {path} as a triangle mesh: {err}") from err
            self.name, self._from_file = str(path), True
        else:
            raise ValueError("MeshDomain: source must be a mesh file path or a trimesh.Trimesh, "
                             f"got {source!r}")
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            raise ValueError(f"MeshDomain: {self.name} holds no triangles")
        if not mesh.is_watertight:
            raise ValueError(f"MeshDomain: {self.name} is not watertight (it has open edges or "
                             "non-manifold edges); a domain needs a closed surface. trimesh's "
                             "repair.fill_holes may close small holes")
        if mesh.volume < 0:  # faces wound inwards: turn them so normals point out
            mesh.invert()
        if not mesh.volume > 0:
            raise ValueError(f"MeshDomain: {self.name} encloses no volume")
        self.mesh = mesh
        self.vertices = np.asarray(mesh.vertices, dtype=np.float64)
        self.faces = np.asarray(mesh.faces, dtype=np.int64)

    def __repr__(self) -> str:
        return f"MeshDomain({self.name!r})" if self._from_file else "MeshDomain(<trimesh.Trimesh>)"

    @cached_property
    def _scene(self):
        import open3d as o3d
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(self.vertices.astype(np.float32)),
                            o3d.core.Tensor(self.faces.astype(np.uint32)))
        return scene

    def _query(self, x: Tensor):
        import open3d as o3d
        return o3d.core.Tensor(x.detach().cpu().numpy().astype(np.float32))

    @property
    def bbox(self):
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    @property
    def measure(self) -> float:
        return float(self.mesh.volume)

    @property
    def boundary_measure(self) -> float:
        return float(self.mesh.area)

    def _occupied(self, x: Tensor) -> Tensor:
        # three rays and a majority vote: a ray grazing an edge miscounts now and then
        occ = self._scene.compute_occupancy(self._query(x), nsamples=3).numpy()
        return torch.from_numpy(occ > 0.5).to(x.device)

    def _inside(self, x: Tensor, tol: float) -> Tensor:
        if len(x) == 0:
            return torch.zeros(0, dtype=torch.bool, device=x.device)
        occ = self._occupied(x)
        if tol == 0:
            return occ
        near = torch.from_numpy(self._scene.compute_distance(self._query(x)).numpy() <= abs(tol)).to(x.device)
        return occ | near if tol > 0 else occ & ~near

    def distance(self, x: Tensor) -> Tensor:
        """Signed distance to the surface, positive inside: ``(n,)``, differentiable in ``x`` (its
        gradient is minus the unit vector from the closest surface point, outward)."""
        x = self._check_points(x, "distance")
        if len(x) == 0:
            return x.new_zeros(0)
        found = self._scene.compute_closest_points(self._query(x))
        closest = torch.from_numpy(found["points"].numpy()).to(x)
        face_normal = torch.from_numpy(found["primitive_normals"].numpy()).to(x)
        with torch.no_grad():
            gap = x - closest
            length = gap.norm(dim=1, keepdim=True)
            outward = torch.where(self._occupied(x)[:, None], -gap, gap) / length.clamp_min(1e-300)
            # on the surface the direction to it is undefined: use the face's normal there
            outward = torch.where(length > 1e-7 * self._diagonal, outward, face_normal)
        return ((closest - x) * outward).sum(dim=1)

    def _boundary64(self, n, generator):
        tri = torch.from_numpy(self.vertices[self.faces])  # (F, 3 corners, 3)
        area = torch.from_numpy(np.array(self.mesh.area_faces, dtype=np.float64))
        face = torch.multinomial(area, n, replacement=True, generator=generator) if n else \
            torch.zeros(0, dtype=torch.long)
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        r = u[:, :1].sqrt()  # uniform on a triangle: corners weighted 1 - r, r (1 - s), r s
        weights = torch.cat([1 - r, r * (1 - u[:, 1:]), r * u[:, 1:]], dim=1)
        x = (weights[:, :, None] * tri[face]).sum(dim=1)
        normal = torch.from_numpy(np.array(self.mesh.face_normals, dtype=np.float64))[face]
        return x, normal
