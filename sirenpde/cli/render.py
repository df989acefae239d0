"""``sirenpde render MODEL.pt --size 4x --out big.png``: a fitted image or video at any resolution."""
from __future__ import annotations

from sirenpde.cli.checks import positive_int


def add_render_command(sub) -> None:
    """Register ``render`` on an argparse subparsers object."""
    p = sub.add_parser("render", help="render a fitted image or video (a model.pt of image-fit, video-fit ...) at "
                                      "any resolution",
                       description="Evaluate a model.pt written by `sirenpde solve` for an image or video problem "
                                   "on a pixel (voxel) grid of another size: the network itself at the new pixel "
                                   "centres, nothing interpolated. Writes .png (an image), .mp4 or .gif (a "
                                   "video), or .npy (the raw values in [-1, 1]).")
    p.add_argument("model", help="model.pt from `sirenpde solve image-fit / video-fit / poisson-gradient ...`")
    p.add_argument("--size", default="4x",
                   help="a factor of the fitted grid's image sides (4x, 2.5x; a video keeps its frames) or an "
                        "exact size: HxW for an image, TxHxW for a video (default 4x)")
    p.add_argument("--out", required=True,
                   help="output file: .png or .npy for an image, .mp4, .gif or .npy for a video")
    p.add_argument("--fps", type=float, default=None, help="frames per second of a written video (default: the fit's)")
    p.add_argument("--chunk", type=positive_int, default=65536, help="points per evaluation (default 65536)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    p.set_defaults(func=run_render)


def run_render(args) -> int:
    from sirenpde.cli import checks
    from sirenpde.io.render import check_output, check_render_memory, parse_size, save_render
    from sirenpde.io.solution import load

    checks.input_file(args.model, "MODEL")
    from sirenpde.problems.video_data import MIN_FPS

    if args.fps is not None and not (MIN_FPS <= args.fps < float("inf")):
        raise ValueError(f"--fps must be at least {MIN_FPS}, got {args.fps}")
    checks.output_file(args.out, "--out", (".png", ".npy", ".mp4", ".gif"))
    dev = checks.device(args.device)
    sol = load(args.model, dev)
    base = sol.grid
    if len(base) != sol.in_features or len(base) not in (2, 3):
        raise ValueError(f"MODEL {args.model}: {sol.problem_name!r} was not fitted on a grid of pixels or voxels; "
                         "render takes image and video fits")
    check_output(args.out, len(base))
    shape = parse_size(args.size, base, "--size")
    out_features = int(getattr(sol.model, "out_features", 1))
    check_render_memory(shape, out_features, "--size")
    fps = args.fps if args.fps is not None else float(sol.info.get("fps") or 25.0)
    values = sol.render(shape, chunk=args.chunk)
    path = save_render(args.out, values, len(base), fps)
    print(f"rendered {sol.problem_name} at {'x'.join(map(str, shape))} (fitted at {'x'.join(map(str, base))}); "
          f"wrote {path}")
    return 0
