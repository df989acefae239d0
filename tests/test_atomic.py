"""Atomic output: the file appears whole or not at all, with the permissions open() would give."""
import os
import stat

import pytest

from sirenpde.io.atomic import atomic_open, atomic_path


def test_written_file_has_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "a.txt") as f:
            f.write("hello")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a.txt").stat().st_mode)
    assert mode == 0o644, oct(mode)
    assert (tmp_path / "a.txt").read_text() == "hello"


def test_failure_leaves_old_file_and_no_temporaries(tmp_path):
    target = tmp_path / "b.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"]


def test_atomic_path_creates_parent_folders(tmp_path):
    target = tmp_path / "x" / "y" / "c.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_bytes(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


def test_read_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="for writing"):
        with atomic_open(tmp_path / "d.txt", "r"):
            pass
