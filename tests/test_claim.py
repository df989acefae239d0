"""Output folders are created and locked before any work; output files are proved by a probe."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sirenpde.cli.main import main
from sirenpde.io.claim import LOCK_NAME, claim_folder, probe_file


def _lock_by(folder: Path, pid: int, host=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname()}))


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claim_creates_the_folder_holds_the_lock_and_releases_it(tmp_path):
    out = tmp_path / "a" / "b"
    with claim_folder(out, "--out") as folder:
        assert folder == out and out.is_dir()
        owner = json.loads((out / LOCK_NAME).read_text())
        assert owner == {"pid": os.getpid(), "host": socket.gethostname()}
        (out / "result.txt").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["result.txt"]


def test_a_failed_command_removes_the_folders_it_created_and_only_those(tmp_path):
    (tmp_path / "kept").mkdir()
    out = tmp_path / "kept" / "a" / "b"
    with pytest.raises(RuntimeError):
        with claim_folder(out, "--out"):
            raise RuntimeError("training failed")
    assert (tmp_path / "kept").is_dir() and not (tmp_path / "kept" / "a").exists()


def test_a_folder_held_by_a_live_process_is_refused(tmp_path, live_pid):
    _lock_by(tmp_path / "run", live_pid)
    with pytest.raises(ValueError) as err:
        with claim_folder(tmp_path / "run", "--out"):
            pytest.fail("the block must not run")
    assert "--out" in str(err.value) and f"process {live_pid}" in str(err.value)
    assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] == live_pid  # not taken over


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, dead_pid):
    _lock_by(tmp_path / "run", dead_pid)
    with claim_folder(tmp_path / "run", "--out"):
        assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_a_lock_from_another_host_is_not_judged_stale(tmp_path, dead_pid):
    _lock_by(tmp_path / "run", dead_pid, host="another-machine")
    with pytest.raises(ValueError, match="another-machine"):
        with claim_folder(tmp_path / "run", "--out"):
            pass


def test_only_rank_0_claims_under_torchrun(tmp_path, live_pid, monkeypatch):
    _lock_by(tmp_path / "run", live_pid)  # held by rank 0
    monkeypatch.setenv("RANK", "1")
    with claim_folder(tmp_path / "run", "--out"):
        pass
    assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] == live_pid


@pytest.mark.parametrize("where", ["file", "under-file", "proc"])
def test_folders_that_cannot_be_made_are_refused_naming_the_option(tmp_path, where):
    (tmp_path / "a_file").write_text("x")
    path = {"file": tmp_path / "a_file", "under-file": tmp_path / "a_file" / "run",
            "proc": Path("/proc/sirenpde-test/run")}[where]
    if where == "proc" and not Path("/proc/self").exists():
        pytest.skip("no /proc")
    with pytest.raises(ValueError, match="--out"):
        with claim_folder(path, "--out"):
            pytest.fail("the block must not run")


def test_probe_file_proves_a_file_can_be_written_and_leaves_nothing(tmp_path):
    assert probe_file(tmp_path / "x" / "y" / "m.ply", "-o") == tmp_path / "x" / "y" / "m.ply"
    assert list(tmp_path.iterdir()) == []
    if Path("/proc/self").exists():  # os.access says yes to /proc as root; creating a file does not
        with pytest.raises(ValueError, match="-o: cannot"):
            probe_file("/proc/m.ply", "-o")


def test_a_second_solve_into_a_held_folder_is_refused_at_once(tmp_path, live_pid, capsys):
    _lock_by(tmp_path / "run", live_pid)
    rc = main(["solve", "image-fit", "-O", "size=8", "--steps", "1000", "-q", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "--out" in err and "being written by" in err and str(live_pid) in err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_NAME]  # nothing written
