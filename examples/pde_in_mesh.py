"""-lap u = 1 inside a triangle mesh (an icosphere of radius 1), u = 0 on its surface.

Any watertight .obj/.stl/.ply works the same way (``MeshDomain("part.stl")``); the icosphere makes
the answer known: (1 - r^2) / 6 for the exact ball, which the mesh approximates to ~0.2% in volume.

    python examples/pde_in_mesh.py
"""
import sys
import tempfile
from pathlib import Path

from sirenpde.geometry import MeshDomain

from _common import parse, poisson_in_unit_ball


def main(argv=None):
    args = parse(__doc__.splitlines()[0], argv)
    import trimesh

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sphere.obj"
        trimesh.creation.icosphere(subdivisions=4, radius=1.0).export(path)
        return poisson_in_unit_ball(MeshDomain(path), "poisson-in-mesh", args)


if __name__ == "__main__":
    main(sys.argv[1:])
