"""A run's identity is derived from every constructor option, so no problem or family can leave one out.

The loop below goes over every registered problem and family and changes each option of its
constructor, one at a time, to another valid value: the identity (what a checkpoint must match)
must change every time. An option is changed by a rule (a number moves, a flag flips) unless
``alternatives()`` gives its other value; an option neither covers (a new string option, say) fails
the test with a message naming it, so a new option or a new registration is checked for free.
The end-to-end test refuses to resume a helmholtz checkpoint under other options.
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

import sirenpde
from sirenpde.hyper import FAMILIES, get_family
from sirenpde.hyper.fit import FamilyProblem
from sirenpde.io.archive import plain_data
from sirenpde.problem import fingerprint, identity
from sirenpde.problems import PROBLEMS, get_problem
from sirenpde.shapes.pointcloud import PointCloud


def sphere_cloud(n: int = 200, seed: int = 0, radius: float = 1.0) -> PointCloud:
    d = np.random.default_rng(seed).normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return PointCloud(radius * d, d, source="test sphere")


def sphere_sdf(points):
    return np.linalg.norm(points, axis=1) - 1.0


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    from scipy.io import wavfile

    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(800) / 8000
    wavfile.write(path, 8000, (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16))
    return path


def required(name: str) -> dict:
    """The options that have no default; every other option starts at its default."""
    return {"sdf": {"cloud": sphere_cloud()},
            "poisson-bump": {"cx": 0.1, "cy": -0.2, "width": 0.15}}.get(name, {})


def alternatives(name: str, wav) -> dict:
    """Another valid value of each option that :func:`other_value` cannot change."""
    import trimesh

    images = {"image": "astronaut"}
    return {
        "image-fit": {**images, "color": False},
        "video-fit": {"video": "sinusoids", "frames": 5, "size": 40, "fps": 30.0},
        "audio-fit": {"path": str(wav), "max_samples": 4000},
        "poisson-gradient": images,
        "poisson-laplacian": images,
        "gradient-composite": {"image": "astronaut", "other": "camera", "mode": "blend"},
        "helmholtz": {"source": (0.1, 0.0), "velocity": "square", "reduction": "l1", "subtract_source": False},
        "helmholtz-inverse": {"sources": ((-0.3, -0.3), (0.3, 0.3)), "velocity": "square"},
        "helmholtz-square": {"k0": 3 * math.pi, "points": 441, "collocation": "random"},
        "wave": {"center": (0.1, 0.0), "velocity": "square"},
        "sdf": {"cloud": sphere_cloud(seed=1), "normals": "drop", "bound_slack": 0.05, "shares": (0.5, 0.2, 0.3),
                "off_sampling": "spacing", "reference_mesh": trimesh.creation.icosphere(subdivisions=1),
                "reference_sdf": sphere_sdf},
    }.get(name, {})


def other_value(value):
    """A number moved, a flag flipped; None where a rule cannot tell a valid other value."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return 0.8 * value if value else 0.1
    return None


def option_cases(cls, base: dict, given: dict):
    """``(option, other value)`` for every parameter of ``cls``'s constructor."""
    for option, param in inspect.signature(cls.__init__).parameters.items():
        if option == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = base[option] if option in base else param.default
        other = given[option] if option in given else other_value(value)
        assert other is not None, (f"{cls.__name__}: no other value known for option {option!r} = {value!r}; "
                                   f"add one to alternatives() in tests/test_identity.py")
        yield option, other


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_every_option_of_every_problem_changes_its_identity(name, wav):
    base = required(name)
    first, again = get_problem(name, **base), get_problem(name, **base)
    ident = first.identity()
    assert ident == again.identity(), "building the same problem twice must give the same identity"
    assert plain_data(ident) == ident  # what a checkpoint stores, and compares exactly
    assert set(ident["options"]) == set(first.constructor_options)
    cases = list(option_cases(PROBLEMS[name], base, alternatives(name, wav)))
    assert cases or not first.constructor_options
    for option, other in cases:
        changed = get_problem(name, **{**base, option: other})
        assert changed.identity() != ident, f"{name}: changing {option} to {other!r} left the identity as it was"


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_option_of_every_family_changes_its_identity(name, wav):
    """A family's identity (and fit_family's checkpoint identity) changes with extrapolate and with
    every option of its member problem, which is what family.pt stores to rebuild it."""
    family = get_family(name)
    ident = family.identity()
    assert ident == get_family(name).identity() and plain_data(ident) == ident
    run = identity(FamilyProblem(family, 16))  # what fit_family's checkpoints match
    assert run == identity(FamilyProblem(get_family(name), 16)) and plain_data(run) == run
    assert identity(FamilyProblem(family, 17)) != run
    spec = FAMILIES[name]
    shared = dict(spec.get("options", {}))
    ranges = spec.get("ranges") or PROBLEMS[spec["problem"]].parameter_ranges
    cases = [("extrapolate", True)] + [
        (option, other) for option, other in option_cases(PROBLEMS[spec["problem"]], shared,
                                                          alternatives(spec["problem"], wav))
        if option not in ranges and option != "source"]  # a member's own parameters vary anyway
    assert len(cases) > 1
    for option, other in cases:
        changed = get_family(name, **{option: other})
        assert changed.identity() != ident, f"{name}: changing {option} to {other!r} left the identity as it was"
        assert identity(FamilyProblem(changed, 16)) != run, f"{name}: {option} is not in fit_family's identity"
        if option != "extrapolate":  # what family.pt stores to rebuild the family
            assert changed.spec() != family.spec(), f"{name}: {option} is not in spec()"


def test_arrays_and_files_enter_the_identity_by_content(tmp_path, wav):
    velocity = np.full((8, 8), 1.0)
    one = get_problem("helmholtz", velocity=velocity.copy(), subtract_source=False).identity()
    assert one == get_problem("helmholtz", velocity=velocity.copy(), subtract_source=False).identity()
    assert set(one["options"]["velocity"]) == {"sha256", "shape", "dtype"}
    velocity[3, 4] = 1.5
    assert get_problem("helmholtz", velocity=velocity, subtract_source=False).identity() != one
    # a tensor and an array of the same contents and dtype are the same option
    assert fingerprint(torch.arange(6.0).reshape(2, 3)) == fingerprint(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    assert fingerprint(torch.arange(6.0)) != fingerprint(torch.arange(6.0).double())
    # a file: the same name with other contents is another problem
    path = tmp_path / "tone.wav"
    path.write_bytes(wav.read_bytes())
    before = get_problem("audio-fit", path=str(path)).identity()
    assert before["options"]["path"]["file"] == str(path)
    from scipy.io import wavfile

    wavfile.write(path, 8000, np.zeros(800, dtype=np.int16) + np.arange(800, dtype=np.int16))
    assert get_problem("audio-fit", path=str(path)).identity() != before


def test_options_are_recorded_once_with_defaults_and_follow_assignment():
    inverse = get_problem("helmholtz-inverse", k=10.0)
    options = inverse.constructor_options
    # the outermost constructor's arguments, not those it passes to Helmholtz.__init__
    assert options["k"] == 10.0 and "sources" in options and "source" not in options and "absorption" not in options
    assert inverse.changed_options() == {"k": 10.0}
    problem = get_problem("helmholtz", subtract_source=False)
    before = problem.identity()
    problem.absorption = 0.0  # what Helmholtz's docstring suggests before a second fit
    assert problem.identity()["options"]["absorption"] == 0.0 and problem.identity() != before
    assert problem.identity() == get_problem("helmholtz", subtract_source=False, absorption=0.0).identity()


def small_helmholtz_fit(checkpoint, stop_at=None, **options):
    """Four steps of a tiny helmholtz fit, checkpointed every step; interrupted after ``stop_at``."""
    def stop(step, losses):
        if step == stop_at:
            raise KeyboardInterrupt

    problem = get_problem("helmholtz", metric_n=4, **options)
    model = problem.make_model("siren", seed=0, hidden_features=16, hidden_layers=1)
    return sirenpde.fit(problem, model, steps=4, batch_size=64, progress=False, checkpoint=checkpoint,
                        checkpoint_every=1, device="cpu", callback=stop)


def test_a_checkpoint_does_not_resume_a_problem_built_with_other_options(tmp_path):
    from sirenpde.training.checkpoints import saved_step

    ckpt = tmp_path / "c.pt"
    with pytest.raises(KeyboardInterrupt):
        small_helmholtz_fit(ckpt, stop_at=2)
    done = saved_step(ckpt)
    assert 0 < done < 4
    # the command line's `-O absorption=0`: a different run, refused with the field that differs
    with pytest.raises(ValueError, match=r"belongs to another run: problem\.options\.absorption is 0\.5 there "
                                         r"but 0 here"):
        small_helmholtz_fit(ckpt, absorption=0)
    with pytest.raises(ValueError, match=r"problem\.options\.wall_share is 0\.02 there but 0\.05 here"):
        small_helmholtz_fit(ckpt, wall_share=0.05)
    assert saved_step(ckpt) == done  # refused before anything was written
    # the same run resumes where it stopped
    resumed = small_helmholtz_fit(ckpt)
    assert saved_step(ckpt) == 4 and len(resumed.history["total"]) == 4
    # an array option is compared by its contents
    velocity = np.ones((4, 4))
    with pytest.raises(KeyboardInterrupt):
        small_helmholtz_fit(tmp_path / "map.pt", stop_at=1, velocity=velocity.copy())
    velocity[1, 2] = 1.25
    with pytest.raises(ValueError, match=r"problem\.options\.velocity has other contents \(sha256 [0-9a-f]{12}"):
        small_helmholtz_fit(tmp_path / "map.pt", velocity=velocity)
