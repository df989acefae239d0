"""benchmarks/hyper.py at smoke sizes: every section of the table is written."""
from __future__ import annotations

import pytest
from _bench import load_benchmark


@pytest.mark.slow
def test_hyper_benchmark_smoke(tmp_path):
    hyper = load_benchmark("hyper")
    out = tmp_path / "hyper.md"
    hyper.main(["--quick", "--budget-s", "1", "--members", "3", "--instances", "2", "--points", "8",
                "--fit-steps", "4", "--fit-batch", "32", "--eval-every", "2", "--ablation", "--ablation-budget-s", "0.5",
                "--threads", "1", "--out", str(out)])
    text = out.read_text()
    assert "## Family training" in text and "## Amortisation" in text and "## Conditioning ablation" in text
    rows = [line for line in text.splitlines() if line.startswith("| film |") or line.startswith("| full |")
            or line.startswith("| concat |")]
    assert len(rows) == 3, text
    assert (tmp_path / "hyper.png").exists() and "--quick" in text


def test_matched_models_are_within_a_few_percent_of_film():
    hyper = load_benchmark("hyper")
    from sirenpde.hyper import get_family

    models = hyper.matched_models(get_family("poisson-family"), 0)
    film = hyper.count(models["film"])
    for mode in ("full", "concat"):
        assert abs(hyper.count(models[mode]) - film) <= 0.02 * film, (mode, hyper.count(models[mode]), film)
    m = models["full"]
    assert hyper.count(m) == hyper.full_count(get_family("poisson-family"), m.config()["hidden_features"], m.config()["hyper_hidden"])


def test_family_benchmark_quick_writes_its_table_and_json(tmp_path):
    """benchmarks/family.py on its smoke sizes: a table with the held-out members, a per-member fit
    side by side, and a .json holding the same numbers."""
    import json

    from _bench import load_benchmark

    family = load_benchmark("family")
    out = tmp_path / "family-poisson.md"
    family.main(["poisson-family", "--quick", "--out", str(out)])
    md = out.read_text()
    data = json.loads(out.with_suffix(".json").read_text())
    assert "# Family benchmark: poisson-family" in md and "| cx | cy | width | family rel L2 |" in md
    assert data["held_out"] == 2 and len(data["rows"]) == 2 and "fit_rel_l2" in data["rows"][0]
    assert data["ratio"] == data["family_median_on_fitted"] / data["fit_median"] and data["predict_s"] > 0
