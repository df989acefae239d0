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

    A ``.npy`` file is opened as :class:`NpyRows`: its header's shape and dtype are checked without
    reading the data, which is then read a block of rows at a time. A text table may have ``dim`` columns, or for 3D points
    6 (``x y z nx ny nz``, the normals ignored)."""
    import numpy as np

    path = Path(path)
    if path.suffix.lower() not in POINT_SUFFIXES:
        raise ValueError(f"--points must end in {', '.join(POINT_SUFFIXES)}, got {str(path)!r}")
    if path.suffix.lower() == ".npy":
        pts = NpyRows(path)
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


class NpyRows:
    """The rows of a 2-D ``.npy`` array, read from the file a block at a time.

    Only the header is read when opened (no pickles: ``allow_pickle`` is never involved). Unlike a
    memory map, a block read with ``numpy.fromfile`` does not stay in the process's resident memory,
    so evaluating 5e7 points holds one chunk of them, not the 800 MB file."""

    def __init__(self, path):
        import numpy as np

        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                self.offset = f.tell()
        except (ValueError, OSError, EOFError, SyntaxError) as err:
            raise ValueError(f"--points {self.path}: not a readable .npy array of numbers ({err})") from None
        if dtype.hasobject or dtype.kind not in "fiu":
            raise ValueError(f"--points {self.path}: expected a float array, got dtype {dtype}")
        if fortran and len(shape) == 2 and shape[1] > 1:
            raise ValueError(f"--points {self.path}: a Fortran-ordered array; save it with "
                             f"numpy.save(path, numpy.ascontiguousarray(points))")
        self.shape, self.dtype, self.ndim = tuple(shape), dtype, len(shape)
        need = self.offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if self.path.stat().st_size < need:
            raise ValueError(f"--points {self.path}: the file is shorter than its header's shape {self.shape} "
                             f"needs ({self.path.stat().st_size:,} of {need:,} bytes)")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice):
        import numpy as np

        start, stop, step = rows.indices(len(self))
        if step != 1:
            raise ValueError("NpyRows reads contiguous blocks of rows")
        width = int(np.prod(self.shape[1:], dtype=np.int64))
        count = max(stop - start, 0) * width
        block = np.fromfile(self.path, dtype=self.dtype, count=count,
                            offset=self.offset + start * width * self.dtype.itemsize)
        return block.reshape(-1, *self.shape[1:])


def _results_per_point(dim: int, outputs: int, order: int) -> int:
    return outputs * (1 + (dim if order >= 1 else 0) + (dim + 1 if order == 2 else 0))


def memory_need(path, n: int, dim: int, outputs: int, order: int, chunk: int, width: int) -> dict[str, int]:
    """Bytes ``eval`` holds at once, by part: the points as read (a ``.npy`` is read a chunk at a time; a text table is parsed whole, in float64), the float64 and float32 copies of a
    chunk, the network's buffers for a chunk (its widest layer, carrying the value and, per derivative
    order, ``d`` more numbers per unit; a few such layers alive at once), and a chunk of results.
    The results themselves are written to the file chunk by chunk, not held."""
    m = min(n, chunk)
    text = Path(path).suffix.lower() != ".npy"
    carried = 1 + (dim if order >= 1 else 0) + (dim if order == 2 else 0)
    return {"points as read": n * dim * 8 if text else m * dim * 8,
            "chunk copies": m * dim * (8 + 4),
            "network buffers": 4 * m * max(width, 1) * carried * 4,
            "chunk of results": m * _results_per_point(dim, outputs, order) * 4}


def _check_memory(need: dict[str, int], n: int, order: int, chunk: int) -> None:
    from sirenpde.meshing.cost import available_memory

    have = available_memory()
    total = sum(need.values())
    if have is None or total <= have // 2:  # unknown memory: do not refuse on a guess
        return
    parts = ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in need.items())
    hint = ("save the points as .npy (read in chunks)" if need["points as read"] > need["chunk copies"]
            else "lower --chunk")
    raise ValueError(f"--points: {n:,} points at --order {order} with --chunk {chunk} need "
                     f"{total / 2**30:.1f} GiB ({parts}), more than half the free memory "
                     f"({have / 2**30:.1f} GiB); {hint}")


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


def _evaluator(kind: str, model, dev, order: int, chunk: int):
    """A function ``(block (m, d) float64 numpy) -> {name: float32 numpy}`` for one chunk."""
    import numpy as np
    import torch

    from sirenpde.io.solution import evaluate_chunks

    if kind != "shape":
        return lambda block: model.evaluate(block.astype(np.float32), order=order, chunk=chunk)
    scale = model.normalization.scale

    def shape_block(block):
        # f_input(p) = scale * f((p - c) / scale): gradients carry over, second derivatives / scale
        x = torch.as_tensor(model.normalization.apply(block), dtype=torch.float32, device=dev)
        got = evaluate_chunks(model.net, x, order, chunk)
        got["value"] = got["value"] * scale
        for key in ("d2", "laplacian"):
            if key in got:
                got[key] = got[key] / scale
        return got

    return shape_block


def run_eval(args) -> int:
    import h5py
    import numpy as np

    from sirenpde.cli import checks
    from sirenpde.io.atomic import atomic_path

    checks.input_file(args.model, "MODEL")
    checks.input_file(args.points, "--points")
    out = checks.output_file(args.out, "--out", (".h5", ".hdf5"))
    dev = checks.device(args.device)
    kind, model, info = _load_model(args.model, dev)
    net = model.net if kind == "shape" else model.model
    dim, outputs = int(net.in_features), int(getattr(net, "out_features", 1))
    width = int(getattr(net, "hidden_features", 256))
    need = lambda n: memory_need(args.points, n, dim, outputs, args.order, args.chunk, width)  # noqa: E731
    if Path(args.points).suffix.lower() != ".npy":
        # a table is parsed whole: bound its rows by the file's size (two characters a number at least)
        rows = Path(args.points).stat().st_size // (2 * dim)
        _check_memory(need(rows), rows, args.order, args.chunk)
    pts = read_points(args.points, dim)  # of a .npy only the header is read yet
    n = len(pts)
    _check_memory(need(n), n, args.order, args.chunk)
    _finite(pts, args.points, args.chunk)
    evaluate = _evaluator(kind, model, dev, args.order, args.chunk)
    names = []
    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as f:
            for i in range(0, n, args.chunk):
                got = evaluate(np.asarray(pts[i:i + args.chunk], dtype=np.float64))
                if not names:
                    names = list(got)
                    for key, value in got.items():
                        f.create_dataset(key, shape=(n, *value.shape[1:]), dtype=np.float32)
                for key, value in got.items():
                    f[key][i:i + len(value)] = value
            f.attrs.update({"source": str(args.model), "points": str(args.points), "order": args.order,
                            "kind": kind, "units": "input" if kind == "shape" else "problem", **info})
    print(f"evaluated {n:,} points of {args.model} ({kind}) at order {args.order}; wrote {out} "
          f"({', '.join(names)})")
    return 0
