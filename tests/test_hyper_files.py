"""family.pt: round trip for every conditioning, and damaged or hostile files refused."""
from __future__ import annotations

import zipfile

import pytest
import torch

from sirenpde.hyper import conditioned_siren, get_family
from sirenpde.hyper.files import FORMAT, load_family, save_family
from sirenpde.io.archive import write_archive


def model_of(mode):
    torch.manual_seed(1)
    m = conditioned_siren(mode, 2, 1, 3, hidden_features=8, hidden_layers=1)
    with torch.no_grad():  # move every parameter away from its initialisation
        for p in m.parameters():
            p.add_(0.01 * torch.randn(p.shape))
    return m


@pytest.mark.parametrize("mode", ["film", "full", "concat"])
def test_round_trip_gives_the_same_predictions(tmp_path, mode):
    family = get_family("poisson-family", metric_n=17)
    model = model_of(mode)
    save_family(tmp_path / "family.pt", model, family, {"median": 0.5, "rel_l2": [0.5, 0.25]}, {"steps": 3})
    loaded = load_family(tmp_path / "family.pt")
    assert type(loaded.model) is type(model) and loaded.model.config() == model.config()
    assert loaded.family.name == family.name and loaded.family.base.metric_n == 17
    assert loaded.metrics == {"median": 0.5, "rel_l2": [0.5, 0.25]} and loaded.info == {"steps": 3}
    p = family.held_out(5)
    x = torch.rand(5, 7, 2)
    with torch.no_grad():
        assert torch.equal(loaded.model(family.condition(p), x), model(family.condition(p), x))
        member = loaded.predict(p[0])
        # the plain Siren multiplies (n, h) matrices where the batched model multiplies (1, n, h) ones:
        # equal up to float32 rounding (in "full" mode the two paths differ in the last bit)
        torch.testing.assert_close(member(x[0]), model(family.condition(p[:1]), x[:1])[0], rtol=1e-5, atol=1e-6)


def test_out_of_range_member_is_refused_with_the_range(tmp_path):
    save_family(tmp_path / "f.pt", model_of("film"), get_family("poisson-family"))
    with pytest.raises(ValueError, match=r"width = 0.5 is outside the trained range \[0.1, 0.25\]"):
        load_family(tmp_path / "f.pt").predict([0.0, 0.0, 0.5])
    load_family(tmp_path / "f.pt", extrapolate=True).predict([0.0, 0.0, 0.5])


def state_of(tmp_path):
    save_family(tmp_path / "ok.pt", model_of("film"), get_family("poisson-family"))
    return torch.load(tmp_path / "ok.pt", weights_only=True)


def test_a_damaged_file_is_refused(tmp_path):
    save_family(tmp_path / "f.pt", model_of("film"), get_family("poisson-family"))
    with zipfile.ZipFile(tmp_path / "f.pt") as z:
        info = next(i for i in z.infolist() if i.file_size > 200)
    data = bytearray((tmp_path / "f.pt").read_bytes())
    # the entry's data starts after its local header, whose own extra field (torch pads it for
    # alignment) may differ in length from the central directory's copy
    head = data[info.header_offset:info.header_offset + 30]
    name_len, extra_len = int.from_bytes(head[26:28], "little"), int.from_bytes(head[28:30], "little")
    start = info.header_offset + 30 + name_len + extra_len + 50
    data[start] ^= 0xFF
    (tmp_path / "f.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        load_family(tmp_path / "f.pt")
    (tmp_path / "g.pt").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a sirenpde family model"):
        load_family(tmp_path / "g.pt")


def test_a_file_with_code_is_refused(tmp_path):
    torch.save({"format": FORMAT, "payload": zipfile.ZipInfo("x")}, tmp_path / "h.pt")
    with pytest.raises(ValueError, match="objects other than plain tensors"):
        load_family(tmp_path / "h.pt")


@pytest.mark.parametrize("key", ["hidden_features", "hidden_layers", "film_layers", "film_hidden"])
def test_a_config_claiming_a_huge_network_is_refused_before_building(tmp_path, monkeypatch, key):
    """10^8 layers grew past 3 GB on the meta device before the shapes were compared: the sizes are
    bounded by the stored weights by arithmetic, and no model is built at all."""
    import sirenpde.hyper.conditioned

    state = state_of(tmp_path)
    state["config"][key] = 10**8
    write_archive(tmp_path / "huge.pt", state)

    def no_build(*args, **kwargs):
        raise AssertionError("a model was built from an unbounded configuration")

    monkeypatch.setattr(sirenpde.hyper.conditioned, "conditioned_siren", no_build)
    with pytest.raises(ValueError, match=f"{key}=100,000,000, more than its"):
        load_family(tmp_path / "huge.pt")


@pytest.mark.parametrize("change, match", [
    (lambda s: s["config"].update(mode="exec"), "unknown conditioning"),
    (lambda s: s["config"].update(hidden_layers="3"), "invalid hidden_layers"),
    (lambda s: s["config"].update(first_omega_0=float("nan")), "non-numeric first_omega_0"),
    (lambda s: s["state_dict"].pop("film.0.weight"), "missing"),
    (lambda s: s["family"].update(problem="nope"), "invalid family record: unknown problem 'nope'"),
    (lambda s: s["family"].update(problem=None), "names no registered problem"),
    (lambda s: s["family"].update(options={"bogus": 1}), "invalid family record: poisson-bump: unknown option"),
    (lambda s: s["family"]["parameters"].update(width=[0.3, 0.1]), "needs finite low < high"),
    (lambda s: s["family"].update(shift=["cx"]), "shift must name 2 parameters"),
    (lambda s: s.update(format="sirenpde-solution-1"), "format"),
])
def test_inconsistent_files_are_refused(tmp_path, change, match):
    state = state_of(tmp_path)
    change(state)
    write_archive(tmp_path / "bad.pt", state)
    with pytest.raises(ValueError, match=match):
        load_family(tmp_path / "bad.pt")
