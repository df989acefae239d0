"""Writing a solved problem to disk: fields in ``.h5``, a PNG figure, ``metrics.json``.

Every file is written atomically (temporary file, then rename).
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sirenpde.io.atomic import atomic_open, atomic_path
from sirenpde.io.plotting import loss_curves, save_figure


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_solution(out_dir, problem, result, model_name: str, options: dict) -> list[Path]:
    """Write ``solution.h5``, ``solution.png``, the problem's own files (:meth:`Problem.write_outputs`,
    such as a video's ``solution.mp4``) and ``metrics.json`` into ``out_dir``."""
    import h5py

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = result.model
    meta = {
        "problem": _jsonable(problem.describe()),
        "options": _jsonable(options),
        "model": model_name,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "steps": result.steps,
        "settings": _jsonable(getattr(result, "settings", {})),
        "metrics": _jsonable(result.metrics),
        "times": _jsonable(result.times),
        "final_loss": {k: v[-1] for k, v in loss_curves(result.history).items() if v},
        "torch": torch.__version__,
        "machine": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    fields = problem.fields(model)
    h5_path = out / "solution.h5"
    with atomic_path(h5_path) as tmp:
        with h5py.File(tmp, "w") as f:
            g = f.create_group("fields")
            for name, arr in fields.items():
                g.create_dataset(name, data=np.asarray(arr), compression="gzip")
            h = f.create_group("history")
            for name, values in result.history.items():
                h.create_dataset(name, data=np.asarray(values, dtype=np.float64))
            f.attrs["metadata"] = json.dumps(meta)
    paths = [h5_path]
    fig = problem.figure(model, result.history)
    if fig is not None:
        paths.append(save_figure(fig, out / "solution.png", dpi=110))
    paths += problem.write_outputs(model, out)
    with atomic_open(out / "metrics.json", "w") as f:
        json.dump(meta, f, indent=2)
    paths.append(out / "metrics.json")
    return paths
