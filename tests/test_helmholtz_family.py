"""helmholtz-family: the helmholtz problem with the source position varying; the subtracted equation
holds for the reference of random members when they are stacked, and the shifted conditioning."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sirenpde.hyper import get_family
from sirenpde.hyper.family import stack_batches

H = 2e-3  # finite-difference step


class StencilField:
    """Value, gradient and second derivatives by central differences of a ``(B, n, 2)`` function."""

    def __init__(self, fn, x, h=H):
        self.x = x
        e = [torch.tensor([h, 0.0], dtype=x.dtype), torch.tensor([0.0, h], dtype=x.dtype)]
        self.value = fn(x)
        plus = [fn(x + d) for d in e]
        minus = [fn(x - d) for d in e]
        self.grad = torch.stack([(p - m) / (2 * h) for p, m in zip(plus, minus)], dim=-1)  # (B, n, ch, d)
        self._d2 = [(p - 2 * self.value + m) / h**2 for p, m in zip(plus, minus)]

    def d2(self, i):
        return self._d2[i]


def members_and_points(family, seed=0):
    gen = torch.Generator().manual_seed(seed)
    p = family.sample(4, gen, dtype=torch.float64)
    near = p[:, None, :] + 0.25 * (torch.rand(4, 30, 2, generator=gen, dtype=torch.float64) * 2 - 1)
    far = (torch.rand(4, 30, 2, generator=gen, dtype=torch.float64) * 2 - 1) * 0.48
    return p, torch.cat([near.clamp(-0.48, 0.48), far], dim=1)


def v_of(members):
    """``v = u_ref - chi G`` of each member at its own points ``x (B, n, 2)``: ``(B, n, 2)``."""
    def fn(x):
        out = []
        for b, member in enumerate(members):
            pts = x[b].numpy()
            v = member.reference_complex(pts) - member.subtraction.terms(pts)[0]
            out.append(np.stack([v.real, v.imag], -1))
        return torch.as_tensor(np.stack(out))
    return fn


def test_the_stacked_residual_vanishes_on_the_reference_of_random_members():
    """Central differences of ``v = u_ref - chi G`` (4 random members, 60 points each, float64) put
    into helmholtz's own residual on the stacked batch: it falls as h² (measured max |r| / max |v|
    2.4e-3 at h = 2e-3 and 6.0e-4 at h = 1e-3). Points whose stencil straddles r1 or r2 are left out
    (the cutoff is C2, differences there are first order). Every member's own residual gives the same
    rows; the members' data swapped leaves |r| / |v| of order 1."""
    family = get_family("helmholtz-family")
    p, x = members_and_points(family)
    members = [family.member(row) for row in p]
    batch = stack_batches([m._with_coefficients(x[b]) for b, m in enumerate(members)])
    batch["absorption"] = 0.0
    residual = family.base.residual
    rad = (x - p[:, None, :]).norm(dim=-1)
    sub = family.base.subtraction
    smooth = ((rad - sub.r1).abs() > 3 * H) & ((rad - sub.r2).abs() > 3 * H)
    assert smooth.sum() > 200
    worst = []
    for h in (H, H / 2):
        u = StencilField(v_of(members), x, h)
        r = residual(u, batch)
        assert r.shape == (4, 60, 2)
        worst.append(float(r[smooth].abs().max()) / float(u.value.abs().max()))
    assert worst[1] < 1e-3 and worst[0] / worst[1] > 3.5, worst
    for b, member in enumerate(members):  # the member's residual on its own rows: the same numbers
        one = {k: (v[b] if torch.is_tensor(v) else v) for k, v in batch.items()}
        ub = type("F", (), {"x": x[b], "value": u.value[b], "grad": u.grad[b], "d2": lambda self, i, b=b: u.d2(i)[b]})()
        torch.testing.assert_close(member.residual(ub, one), r[b], rtol=1e-12, atol=1e-12)
    swapped = {**batch, "f": batch["f"].flip(0), "chi_g": batch["chi_g"].flip(0)}
    assert float(residual(u, swapped).abs().max()) > 1e-1 * float(u.value.abs().max())


def test_members_batches_and_metrics():
    family = get_family("helmholtz-family", metric_n=9)
    gen = torch.Generator().manual_seed(1)
    p = family.sample(3, gen)
    batches = [family.member_batch(i, p, 5, gen) for i in range(3)]
    assert [b["x"].shape for b in batches] == [(3, 5, 2)] * 3
    assert batches[0]["f"].shape == (3, 5) and batches[0]["f"].dtype == torch.complex64
    assert family.coefficients(0, 100) == {"absorption": 0.5} and family.coefficients(None) == {"absorption": 0.0}
    # near-source points are drawn around each member's own source
    near = batches[1]["x"] - p[:, None, :]
    assert float(near.norm(dim=-1).mean()) < 0.3
    member = family.member(p[0])
    assert member.name == "helmholtz" and np.allclose(member.source, p[0].double().numpy())
    assert member.subtraction is not None and member.metric_n == 9
    assert family.member_options(p[0])["source"] == pytest.approx(p[0].tolist())
    with pytest.raises(ValueError, match=r"sx = 0.3 is outside the trained range \[-0.2, 0.2\]"):
        family.check([0.3, 0.0])
    with pytest.raises(ValueError, match="subtract_source=True needs a disk"):
        get_family("helmholtz-family", extrapolate=True).member([0.45, 0.0])


def test_the_shifted_model_is_the_siren_at_coordinates_relative_to_the_source():
    """helmholtz-family's model takes x - (sx, sy): at initialisation (FiLM's last layer zero) it is
    exactly its Siren at the shifted points, and a member's plain Siren (``instance``) folds the shift
    into its first bias (float64, to rounding)."""
    family = get_family("helmholtz-family")
    model = family.make_model(seed=0, hidden_features=16, hidden_layers=1).double()
    assert model.config()["shift"] == {"index": [0, 1], "low": [-0.2, -0.2], "high": [0.2, 0.2]}
    p = torch.tensor([[0.1, -0.15], [-0.2, 0.05]], dtype=torch.float64)
    x = torch.rand(2, 7, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5
    z = family.condition(p)
    out = model(z, x)
    torch.testing.assert_close(out, model.siren(x - p[:, None, :]), rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        model.film[-1].bias.normal_()  # a trained-looking modulation
    out = model(z, x)
    for b in range(2):
        torch.testing.assert_close(family.predict(model, p[b])(x[b]), out[b], rtol=1e-10, atol=1e-10)
    jet = model.forward_jet(z, x, order=2)
    torch.testing.assert_close(jet.value, out)


def test_a_short_fit_and_a_prediction_give_a_loadable_helmholtz_member(tmp_path):
    from sirenpde.cli.main import main
    from sirenpde.hyper.files import save_family
    from sirenpde.hyper.fit import fit_family
    from sirenpde.io.solution import load

    family = get_family("helmholtz-family", metric_n=8)
    model = family.make_model("film", seed=0, hidden_features=16, hidden_layers=1)
    seen = []
    result = fit_family(family, model, steps=3, members=2, points=20, lr=1e-4, progress=False, eval_members=2,
                        device="cpu", callback=lambda step, losses: seen.append(sorted(losses)))
    assert seen[0] == ["pde", "pde_source", "total", "wall"] and len(result.metrics["rel_l2"]) == 2
    save_family(tmp_path / "family.pt", result.model, family)
    rc = main(["family", "predict", str(tmp_path / "family.pt"), "-O", "sx=0.1", "-O", "sy=-0.05",
               "--out", str(tmp_path / "m")])
    assert rc == 0
    solution = load(tmp_path / "m" / "model.pt")
    problem = solution.problem  # rebuilt by get_problem from the stored options
    assert problem.name == "helmholtz" and problem.source.tolist() == pytest.approx([0.1, -0.05])
    assert problem.subtraction is not None and problem.metric_n == 8
    direct = family.metrics(result.model, torch.tensor([[0.1, -0.05]]))["rel_l2"][0]
    assert problem.metrics(solution.model)["rel_l2"] == pytest.approx(direct, rel=1e-4)
