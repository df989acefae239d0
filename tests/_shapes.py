"""Shared pieces of the shape tests: analytic sphere and torus clouds, and the shape CLI."""
from __future__ import annotations

import argparse

import numpy as np
import trimesh

from sirenpde.cli.shape import add_shape_commands
from sirenpde.meshing import Torus
from sirenpde.shapes.pointcloud import PointCloud

CENTER = np.array([10.0, -5.0, 3.0])
RADIUS = 2.0  # the sphere's radius, and the torus's major radius
MINOR = 0.7


def sphere_cloud(n: int, seed: int = 0) -> PointCloud:
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return PointCloud(CENTER + RADIUS * d, d, source="sphere")


def true_sphere() -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=6, radius=RADIUS)
    mesh.apply_translation(CENTER)
    return mesh


def true_torus() -> trimesh.Trimesh:
    mesh = trimesh.creation.torus(major_radius=RADIUS, minor_radius=MINOR, major_sections=128,
                                  minor_sections=48)
    mesh.apply_translation(CENTER)
    return mesh


def torus_sdf(points) -> np.ndarray:
    return Torus(RADIUS, MINOR)(np.asarray(points) - CENTER)


def parser():
    p = argparse.ArgumentParser(prog="sirenpde")
    add_shape_commands(p.add_subparsers(dest="command", required=True))
    return p


def run(*argv):
    args = parser().parse_args([str(a) for a in argv])
    return args.func(args)
