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


def test_stale_temp_files_of_a_dead_writer_are_removed_on_the_next_write(tmp_path):
    import subprocess
    import sys

    # a finished process's pid stands for a writer killed mid-write
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f".out.json.{dead}-abcd1234.tmp.json"
    old_style = tmp_path / ".out.json.k2j3h4g5.tmp.json"  # before pids were in the name
    live = tmp_path / f".out.json.{os.getppid()}-zzzz0000.tmp.json"  # a concurrent writer: kept
    other = tmp_path / f".other.json.{dead}-abcd1234.tmp.json"  # another target's: kept
    for p in (stale, old_style, live, other):
        p.write_bytes(b"")
    with atomic_open(tmp_path / "out.json") as f:
        f.write("{}")
    assert (tmp_path / "out.json").read_text() == "{}"
    assert not stale.exists() and not old_style.exists()
    assert live.exists() and other.exists()
