"""Fast start: importing sirenpde, building the CLI's parser and `--help` load no torch.

Each check runs in a fresh interpreter (this test process has torch loaded already) and prints
whether torch, or any problem module, ended up in ``sys.modules``.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
{code}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "scipy", "matplotlib", "trimesh", "open3d"))
problems = sorted(m for m in sys.modules if m.startswith("sirenpde.problems."))
print(json.dumps({{"heavy": heavy[:5], "problems": problems}}))
"""


def _loaded(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("code", [
    "import sirenpde",
    "import sirenpde.cli.main as m; m.build_parser()",
    "import sirenpde.problems as p; assert 'wave' in p.PROBLEMS and len(p.PROBLEMS) >= 10",
    "import sirenpde.shapes, sirenpde.registry",
])
def test_imports_load_no_torch(code):
    assert _loaded(code) == {"heavy": [], "problems": []}


@pytest.mark.parametrize("argv", [["--help"], ["solve", "--help"], ["reconstruct", "--help"],
                                  ["fit-sdf", "--help"], ["evaluate", "--help"], ["inpaint", "--help"],
                                  ["family", "train", "--help"]])
def test_help_loads_no_torch(argv):
    code = ("from sirenpde.cli.main import main\n"
            "try:\n    main(%r)\nexcept SystemExit as stop:\n    assert stop.code == 0, stop.code\n" % argv)
    assert _loaded(code) == {"heavy": [], "problems": []}


def test_help_lists_registry_choices():
    out = subprocess.run([sys.executable, "-m", "sirenpde", "fit-sdf", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "{auto,jet,reverse,autograd}" in out.stdout and "{auto,clean,noisy}" in out.stdout
    assert "--first-omega-0" in out.stdout and "--w0" in out.stdout


def test_lazy_front_door_resolves_every_name():
    import sirenpde

    for name in sirenpde.__all__:
        assert getattr(sirenpde, name) is not None, name
    assert set(sirenpde.__all__) <= set(dir(sirenpde))
    assert sirenpde.problems.Helmholtz.__name__ == "Helmholtz"  # subpackages read as attributes
    assert sirenpde.meshing.extract_mesh is sirenpde.meshing.extract.extract_mesh
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sirenpde.nope
