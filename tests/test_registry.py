"""The registry idiom: names without imports, lazy lookup, clear errors, dict-like behaviour."""
from __future__ import annotations

import pytest

from sirenpde.registry import ENGINES, MODELS, NOISE_SETTINGS, Registry, UnknownName


def test_lazy_target_loads_on_lookup_and_keeps_order():
    reg = Registry("thing", {"b": "collections:OrderedDict", "a": "fractions:Fraction"}, default="a")
    assert list(reg) == ["b", "a"] and reg.names == ("b", "a") and reg.default == "a"
    import collections, fractions

    assert reg["a"] is fractions.Fraction and reg["b"] is collections.OrderedDict
    assert list(reg) == ["b", "a"]  # loading an entry does not move it


def test_bad_name_is_a_value_error_listing_the_names():
    with pytest.raises(ValueError, match=r"unknown derivative engine 'fast'; valid derivative engines: "
                                         r"auto, jet, reverse, autograd"):
        ENGINES.check("fast")
    with pytest.raises(KeyError):  # code written against a dict keeps working
        MODELS["sine"]
    try:
        NOISE_SETTINGS["loud"]
    except UnknownName as err:
        assert str(err).startswith("unknown noise setting 'loud'")  # not quoted like a KeyError


def test_plain_choices_and_mapping_behaviour():
    assert "auto" in ENGINES and "fast" not in ENGINES and ENGINES["jet"] == "jet"
    reg = Registry("x", ["p", "q"])
    reg["r"] = 3
    del reg["p"]
    assert dict(reg) == {"q": "q", "r": 3} and len(reg) == 2


def test_bad_definitions_are_refused():
    with pytest.raises(ValueError, match="module:attribute"):
        Registry("x", {"a": "no_colon"})
    with pytest.raises(ValueError, match="default 'z'"):
        Registry("x", ["a"], default="z")


def test_models_registry_gives_the_classes():
    from sirenpde.nn import Siren, make_model

    assert MODELS["siren"] is Siren and ", ".join(MODELS) == "siren, relu, relu-pe, tanh, fourier"
    with pytest.raises(ValueError, match="unknown model 'sine'"):
        make_model("sine", 2, 1)


def test_problem_and_family_names_agree_with_their_classes():
    """A registry name is the name the object reports (and saves: a model.pt records ``problem.name``),
    and every family's member problem is registered, so a predicted member loads back by name."""
    from sirenpde.hyper import FAMILIES, get_family
    from sirenpde.problem import Problem
    from sirenpde.problems import PROBLEMS

    for name in PROBLEMS:
        cls = PROBLEMS[name]
        assert issubclass(cls, Problem) and cls.name == name, (name, cls)
    for name in FAMILIES:
        family = get_family(name)
        assert family.name == name
        member = family.member(family.held_out(1)[0])
        assert member.name in PROBLEMS and isinstance(member, PROBLEMS[member.name]), (name, member.name)


def test_problem_names_load_without_torch():
    import subprocess
    import sys

    code = ("import sys\nimport sirenpde.problems as p\nnames = list(p.PROBLEMS)\n"
            "assert 'poisson-bump' in names, names\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_get_problem_names_a_missing_option():
    from sirenpde.problems import get_problem

    with pytest.raises(ValueError, match=r"sdf: option 'cloud' has no default, give it \(command line: "
                                         r"-O cloud=\.\.\.\); its options are cloud, "):
        get_problem("sdf")
    with pytest.raises(ValueError, match="poisson-bump: unknown option 'k'"):
        get_problem("poisson-bump", cx=0.1, cy=0.0, width=0.2, k=3)


def test_torch_free_choices_agree_with_the_numerics():
    """The command line lists choices from sirenpde.registry without importing torch; each list
    must be exactly what the numerics accept."""
    from sirenpde import optim, registry
    from sirenpde.training.balance import BALANCES

    assert list(registry.BALANCES) == list(BALANCES)
    assert list(registry.SCHEDULES) == list(optim.SCHEDULES)
    assert list(registry.OPTIMIZERS) == list(optim.OPTIMIZERS)
