"""Packaging: the wheel's package list covers the tree (scripts/check-wheel.sh builds and runs it)."""
from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def _tree_packages() -> set[str]:
    """Every folder with an ``__init__.py``, under the import name it installs as."""
    names = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "sirenpde").rglob("__init__.py")}
    for folder in ("problems", "meshing"):  # mapped into sirenpde by package_dir
        names |= {"sirenpde." + ".".join(p.parent.relative_to(ROOT).parts)
                  for p in (ROOT / folder).rglob("__init__.py")}
    return {n for n in names if "__pycache__" not in n}


def test_setup_cfg_lists_every_subpackage_of_the_tree():
    listed = set(_setup_cfg()["options"]["packages"].split())
    tree = _tree_packages()
    assert len(tree) >= 8
    assert listed == tree, f"missing from setup.cfg: {sorted(tree - listed)}; not in the tree: {sorted(listed - tree)}"


def test_package_dir_maps_the_top_level_folders():
    mapping = dict(line.split("=") for line in _setup_cfg()["options"]["package_dir"].split("\n") if "=" in line)
    mapping = {k.strip(): v.strip() for k, v in mapping.items()}
    assert mapping == {"sirenpde": "sirenpde", "sirenpde.problems": "problems", "sirenpde.meshing": "meshing"}


def test_ci_checks_the_installed_wheel():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/check-wheel.sh" in ci
    script = (ROOT / "scripts" / "check-wheel.sh").read_text()
    for command in ("sirenpde\" --help", "sirenpde\" list", "sirenpde\" solve"):
        assert command in script, command
