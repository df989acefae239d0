"""``sirenpde eval MODEL.pt --points pts.npy --out values.h5``: a saved model on given points.

MODEL.pt is a solution written by ``sirenpde solve`` (``model.pt``) or a shape written by
``sirenpde fit-sdf`` / ``reconstruct --save-model``. A solution is evaluated at the points as
they are; a shape takes points in its input's coordinates and units and returns signed
distances in those units (and their derivatives in them too).
"""
from __future__ import annotations

from pathlib import Path

from sirenpde.cli.checks import positive_int

POINT_SUFFIXES = (".npy", ".txt", ".xyz")
# the results are float32 numbers, all held until the file is written
_BYTES_PER_NUMBER = 4


def add_eval_command(sub) -> None:
    """Register ``eval`` on an argparse subparsers object."""
    p = sub.add_parser("eval", help="evaluate a saved solution or shape on given points, write .h5",
                       description="Evaluate a model.pt written by `sirenpde solve` (or a shape written by "
                                   "`sirenpde fit-sdf`) at the points of a .npy (n, d) array or a "
                                   "whitespace table (.txt, .xyz), and write value (n, m), and with "
                                   "--order 1 or 2 grad (n, m, d), d2 (n, m, d) and laplacian (n, m) "
                                   "to an .h5 file. A shape's points and values are in its input's units.")
    p.add_argument("model", help="model.pt from `sirenpde solve`, or a shape .pt from `sirenpde fit-sdf`")
    p.add_argument("--points", required=True, help="points: .npy (n, d) float array, or .txt / .xyz table")
    p.add_argument("--out", required=True, help="output file, .h5")
    p.add_argument("--order", type=int, choices=(0, 1, 2), default=0,
                   help="0: values; 1: and gradients; 2: and second derivatives, Laplacian (default 0)")
    p.add_argument("--chunk", type=positive_int, default=32768, help="points per evaluation (default 32768)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, auto")
    p.set_defaults(func=run_eval)


def read_points(path, dim: int):
    """Points ``(n, dim)`` from ``path``, checked before anything of size ``n`` is allocated.

    A ``.npy`` file is memory-mapped (``allow_pickle=False``), so its header's shape and dtype are
    checked without reading the data. A text table may have ``dim`` columns, or for 3D points
    6 (``x y z nx ny nz``, the normals ignored)."""
    import numpy as np

    path = Path(path)
    if path.suffix.lower() not in POINT_SUFFIXES:
        raise ValueError(f"--points must end in {', '.join(POINT_SUFFIXES)}, got {str(path)!r}")
    if path.suffix.lower() == ".npy":
        try:
            pts = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"--points {path}: not a readable .npy array of numbers ({err})") from None
        if not isinstance(pts, np.ndarray) or pts.dtype.kind not in "fiu":
            kind = pts.dtype if isinstance(pts, np.ndarray) else type(pts).__name__
            raise ValueError(f"--points {path}: expected a float array, got dtype {kind}")
    else:
        try:
            pts = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#")
        except ValueError as err:
            raise ValueError(f"--points {path}: not a whitespace table of numbers ({err})") from None
        if pts.ndim == 2 and dim == 3 and pts.shape[1] == 6:
            pts = pts[:, :3]
    if pts.ndim != 2 or pts.shape[1] != dim or pts.shape[0] < 1:
        raise ValueError(f"--points {path}: expected an (n, {dim}) array for this model, got shape "
                         f"{tuple(pts.shape)}")
    return pts


def _check_size(n: int, dim: int, outputs: int, order: int) -> None:
    per_point = outputs * (1 + (dim if order >= 1 else 0) + (dim + 1 if order == 2 else 0))
    need = n * per_point * _BYTES_PER_NUMBER
    from sirenpde.meshing.cost import available_memory

    have = available_memory()
    if have is not None and need > have // 2:  # unknown memory: do not refuse on a guess
        raise ValueError(f"--points: {n:,} points at --order {order} need {need / 2**30:.1f} GiB for the "
                         f"results, more than half the free memory ({have / 2**30:.1f} GiB); split the points")


def _finite(pts, path, chunk: int) -> None:
    import numpy as np

    for i in range(0, len(pts), chunk):
        block = np.asarray(pts[i:i + chunk])
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            row = i + int(np.argmax(bad))
            raise ValueError(f"--points {path}: point {row} is not finite: {block[row - i].tolist()}")


def _load_model(path, device):
    """``(kind, model, info)``: kind is "solution" or "shape"."""
    from sirenpde.io.archive import read_archive
    from sirenpde.io.solution import FORMAT as SOLUTION
    from sirenpde.io.solution import load
    from sirenpde.shapes.model import FORMAT as SHAPE
    from sirenpde.shapes.model import load_shape_model

    state = read_archive(path, (SOLUTION, SHAPE), "saved sirenpde solution or shape model")
    if state["format"] == SHAPE:
        return "shape", load_shape_model(path, device), {}
    sol = load(path, device)
    return "solution", sol, {"problem": sol.problem_name}


def run_eval(args) -> int:
    import h5py
    import numpy as np
    import torch

    from sirenpde.cli import checks
    from sirenpde.io.atomic import atomic_path
    from sirenpde.io.solution import evaluate_chunks

    checks.input_file(args.model, "MODEL")
    checks.input_file(args.points, "--points")
    out = checks.output_file(args.out, "--out", (".h5", ".hdf5"))
    dev = checks.device(args.device)
    kind, model, info = _load_model(args.model, dev)
    net = model if kind == "shape" else model.model
    dim, outputs = int(net.in_features), int(getattr(net, "out_features", 1))
    pts = read_points(args.points, dim)
    _check_size(len(pts), dim, outputs, args.order)
    _finite(pts, args.points, args.chunk)
    if kind == "shape":
        # f_input(p) = scale * f((p - c) / scale): gradients carry over, second derivatives / scale
        scale = model.normalization.scale
        x = torch.as_tensor(model.normalization.apply(np.asarray(pts, dtype=np.float64)),
                            dtype=torch.float32, device=dev)
        got = evaluate_chunks(model.net, x, args.order, args.chunk)
        got["value"] = got["value"] * scale
        for key in ("d2", "laplacian"):
            if key in got:
                got[key] = got[key] / scale
    else:
        got = model.evaluate(np.asarray(pts, dtype=np.float32), order=args.order, chunk=args.chunk)
    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in got.items():
                f.create_dataset(key, data=value)
            f.attrs.update({"source": str(args.model), "points": str(args.points), "order": args.order,
                            "kind": kind, "units": "input" if kind == "shape" else "problem", **info})
    print(f"evaluated {len(pts):,} points of {args.model} ({kind}) at order {args.order}; wrote {out} "
          f"({', '.join(got)})")
    return 0
