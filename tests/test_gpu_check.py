"""scripts/gpu-check.sh --cpu-smoke: every stage of the GPU check runs, tiny, on the CPU."""
import re
import subprocess
from pathlib import Path

import pytest
from _bench import DATA

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu-check.sh"


@pytest.mark.slow  # about 50 s here: five CLI processes, each importing torch
@pytest.mark.skipif(not (DATA / "bunny_50k.xyz").exists(), reason="needs ../shared/data (the bunny)")
def test_gpu_check_cpu_smoke_prints_every_row():
    run = subprocess.run(["bash", str(SCRIPT), "--cpu-smoke"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert "| name | device | steps | seconds | metric |" in lines
    rows = {m.group(1): m for m in (re.match(r"\| (\S+) \| (\S+) \| (\S+) \| ([\d.]+) \| (.*) \|$", line)
                                      for line in lines) if m}
    assert list(rows) == ["tests", "demo", "poisson-gradient", "sdf", "helmholtz", "gauss-newton"], run.stdout
    assert all(m.group(2) == "cpu" for m in rows.values())
    assert re.fullmatch(r"\d+ passed", rows["tests"].group(5))
    assert rows["poisson-gradient"].group(3) == "4" and re.fullmatch(r"PSNR [\d.]+ dB", rows["poisson-gradient"].group(5))
    assert re.fullmatch(r"Chamfer-L1 [\d.]+", rows["sdf"].group(5))
    assert re.fullmatch(r"rel L2 [\d.]+", rows["helmholtz"].group(5))
    assert rows["gauss-newton"].group(3) == "3" and re.fullmatch(r"rel L2 [\d.e+-]+", rows["gauss-newton"].group(5))
    assert "FAILED" not in run.stdout


def test_gpu_check_refuses_a_bad_argument():
    run = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "unknown argument '--bogus'" in run.stderr
