"""benchmarks/inpainting.py at smoke sizes: the table has a row per method and the verdict lines."""
from __future__ import annotations

from _bench import load_benchmark


def test_inpainting_benchmark_smoke(tmp_path):
    bench = load_benchmark("inpainting")
    out = tmp_path / "inpainting.md"
    bench.main(["--quick", "--budget-s", "1", "--encoders", "set,cnn", "--test-images", "2", "--siren-steps", "2",
                "--images", "4", "--latent", "8", "--hidden-features", "8", "--hidden-layers", "1",
                "--out", str(out)])
    text = out.read_text()
    for method in ("hypernetwork, set encoder", "hypernetwork, cnn encoder", "mean face", "griddata linear",
                   "griddata nearest", "biharmonic", "siren fit", "paper: CNN encoder + hypernet"):
        assert f"| {method} |" in text, method
    assert text.count("beats every baseline at 10 px") == 2 and "--quick" in text and "Machine:" in text
    assert (tmp_path / "inpainting.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "inpainting.json").exists()
