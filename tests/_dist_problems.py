"""Small float64 problems for the distributed tests (imported by tests/_dist_worker.py and tests)."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from sirenpde import Box, Constraint, Problem

# case name -> what it exercises
CASES = {
    "jet-laplacian": "a Laplacian residual through forward jets",
    "autograd-laplacian": "the same residual through nested autograd (create_graph inside the forward)",
    "boundary": "a boundary term on the edges of the square",
    "sdf-reverse": "the paper's SDF loss through the reverse sweep",
    "hyper-film": "a FiLM-conditioned Siren on poisson-family (members sharded across ranks)",
}

HYPER_INSTANCES = 7  # members per step in the hyper case: odd, so the ranks' shares differ


def loss_class_of(problem):
    """The session's loss module for a case: the family loss for the hyper case."""
    from sirenpde.training.loss import ConstraintLoss

    return getattr(problem, "loss_class", ConstraintLoss)


def counts_of(problem, batch: int) -> list:
    """What the session passes as ``n`` per constraint: members for a family, else points."""
    from sirenpde.problem import split_batch

    cons = problem.constraints()
    if hasattr(problem, "family"):
        return [HYPER_INSTANCES] * len(cons)
    return split_batch(cons, batch)


def fit_case(problem, model, engine, **kwargs):
    """``fit`` for a plain case, ``fit_family`` (on the same members and points) for the hyper case."""
    import sirenpde

    if hasattr(problem, "family"):
        from sirenpde.hyper.fit import fit_family

        kwargs.pop("batch_size")
        return fit_family(problem.family, model, members=HYPER_INSTANCES,
                          points=problem.points, engine=engine, schedule=None, **kwargs)
    return sirenpde.fit(problem, model, engine=engine, **kwargs)


class Poisson2D(Problem):
    """-Δu = 2 π² sin(π x) sin(π y) on [-1, 1]², u = 0 on the edges: exact u = sin(π x) sin(π y)."""

    name, in_features, out_features = "poisson-2d-test", 2, 1

    def __init__(self, parts=("pde", "edge")):
        self.parts = parts

    def constraints(self):
        box = Box([-1, -1], [1, 1])
        pde = Constraint("pde", lambda n, g: {"x": box.sample(n, g).double()}, order=2, second="laplacian",
                         residual=lambda u, b: u.laplacian + self.source(u.x))
        edge = Constraint("edge", lambda n, g: {"x": box.sample_boundary(n, g).double()}, order=0, weight=10.0,
                          share=0.5, residual=lambda u, b: u.value)
        return [c for c in (pde, edge) if c.name in self.parts]

    @staticmethod
    def source(x):
        return 2 * math.pi**2 * torch.sin(math.pi * x[:, :1]) * torch.sin(math.pi * x[:, 1:])


def sphere_xyz(n: int = 400, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    path = Path(tempfile.mkdtemp()) / "sphere.xyz"
    np.savetxt(path, np.hstack([1.5 * d, d]))
    return path


def make_case(name: str):
    """``(problem, float64 model, engine)`` of a case, the same on every rank."""
    if name == "sdf-reverse":
        from sirenpde.problems import get_problem

        problem = get_problem("sdf", cloud=str(sphere_xyz()))
        problem.metrics = lambda model: {}  # meshing is not what these tests are about
        model = problem.make_model("siren", seed=3, hidden_features=16, hidden_layers=1).double()
        return problem, model, "reverse"
    if name == "hyper-film":
        from sirenpde.hyper import conditioned_siren, get_family
        from sirenpde.hyper.fit import FamilyProblem, family_loss

        family = get_family("poisson-family", metric_n=5)
        problem = FamilyProblem(family, 10, eval_members=2)
        problem.loss_class = family_loss(family)
        torch.manual_seed(3)
        model = conditioned_siren("film", 2, 1, 3, hidden_features=16, hidden_layers=1, first_omega_0=3.0,
                                  hidden_omega_0=3.0, film_hidden=8).double()
        with torch.no_grad():  # away from the zero initialisation, so the FiLM network gets gradients
            model.film[-1].weight.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(4))
        return problem, model, "jet"
    parts = ("edge",) if name == "boundary" else ("pde", "edge")
    problem = Poisson2D(parts)
    model = problem.make_model("siren", seed=3, hidden_features=16, hidden_layers=1,
                               first_omega_0=3.0, hidden_omega_0=3.0).double()
    return problem, model, "autograd" if name.startswith("autograd") else "jet"


# -- every registered problem and family (tests/test_distributed_registry.py) ----------------------
# Small options for the registered problems that have large defaults, and the required options of
# those that have no default; a problem not listed is built with its defaults, so a new registration
# is covered for free (add it here if it is slow or needs options).
REGISTRY_OPTIONS = {
    "poisson-bump": {"cx": 0.1, "cy": -0.2, "width": 0.2},
    "image-fit": {"size": 32},
    "audio-fit": {"max_samples": 256},
    "video-fit": {"video": "sinusoids", "frames": 4, "size": 8},
    "poisson-gradient": {"size": 32},
    "poisson-laplacian": {"size": 32},
    "gradient-composite": {"size": 32},
}
REGISTRY_BATCH = 101  # points per step: odd, so the ranks' shares differ
REGISTRY_INSTANCES = 5  # members per step of a family: odd for the same reason
REGISTRY_POINTS = 24  # points per member


def registry_cases() -> list[str]:
    """``problem:NAME`` for every registered problem, ``family:NAME:MODE`` for every registered
    family under every conditioning, read from the registries."""
    from sirenpde.hyper import CONDITIONINGS, FAMILIES
    from sirenpde.problems import PROBLEMS

    return ([f"problem:{name}" for name in PROBLEMS]
            + [f"family:{name}:{mode}" for name in FAMILIES for mode in CONDITIONINGS]
            + [f"pde:{name}" for name in USER_PDES])


def _plate():
    """A user's sp.PDE: Laplace on a square with two holes, soft Dirichlet on both parts."""
    import sirenpde as sp
    from sirenpde.geometry import Disk, Rectangle

    square = Rectangle([-0.5, -0.5], [0.5, 0.5])
    holes = Disk([0.25, 0.0], 0.1) | Disk([-0.25, 0.0], 0.1)
    return sp.PDE(square - holes, lambda u: u.laplacian,
                  conditions=[sp.Dirichlet(square.boundary, 1.0), sp.Dirichlet(holes.boundary, 0.0)])


def _heat_hard():
    """A user's sp.PDE in time with a hard initial value (the model wrapped as g + t N) and a
    Neumann wall: the wrapper and a normal derivative under DDP."""
    import math

    import sirenpde as sp
    from sirenpde.geometry import Interval

    rod = Interval(0.0, 1.0)
    return sp.PDE(rod.over(0.0, 0.5), lambda u: u.grad[:, 1:2] - 0.2 * u.d2(0),
                  conditions=[sp.Neumann(rod.boundary, 0.0),
                              sp.Initial(lambda x: torch.cos(math.pi * x[:, 0]), hard=True)])


# user problems (sp.PDE is not registered by name): trained without balancing, which the plain
# reference loop does not do (balancing under DDP: tests/test_balance.py)
USER_PDES = {"plate": _plate, "heat-hard": _heat_hard}


def make_registry_case(case: str):
    """``(problem, float64 model, counts, loss class)`` of a registry case, the same on every rank.
    The problem's metrics are switched off: evaluating reference solutions is not what these tests
    are about and would dominate their time."""
    from sirenpde.training.loss import ConstraintLoss

    kind, name, *mode = case.split(":")
    if kind == "pde":
        from sirenpde.problem import split_batch

        problem = USER_PDES[name]()
        problem.metrics = lambda model: {}
        model = problem.make_model("siren", seed=3, hidden_features=16, hidden_layers=1).double()
        return problem, model, split_batch(problem.constraints(), REGISTRY_BATCH), ConstraintLoss
    if kind == "problem":
        from sirenpde.problem import split_batch
        from sirenpde.problems import get_problem

        options = dict(REGISTRY_OPTIONS.get(name, {}))
        if name == "sdf":  # a cloud is required: a small synthetic sphere, no data files needed
            options["cloud"] = str(sphere_xyz(200))
        problem = get_problem(name, **options)
        problem.metrics = lambda model: {}
        model = problem.make_model("siren", seed=3, hidden_features=16, hidden_layers=1).double()
        return problem, model, split_batch(problem.constraints(), REGISTRY_BATCH), ConstraintLoss
    from sirenpde.hyper import get_family
    from sirenpde.hyper.fit import FamilyProblem, family_loss

    family = get_family(name)
    family.metrics = lambda model, p: {}
    problem = FamilyProblem(family, REGISTRY_POINTS, eval_members=1)
    model = family.make_model(mode[0], seed=3, hidden_features=16, hidden_layers=1).double()
    return problem, model, [REGISTRY_INSTANCES] * len(problem.constraints()), family_loss(family)


def fit_registry_case(case: str, problem, model, steps: int, lr: float, seed: int, **kwargs):
    """The front door a user calls for the case: ``fit`` (Adam only, constant rate, no default
    optimiser options) or ``fit_family`` on the members and points of the case."""
    import sirenpde

    if case.startswith("family:"):
        from sirenpde.hyper.fit import fit_family

        return fit_family(problem.family, model, steps, REGISTRY_INSTANCES, REGISTRY_POINTS, lr=lr, seed=seed,
                          eval_members=1, schedule=None, progress=False, balance="none", **kwargs)
    return sirenpde.fit(problem, model, steps=steps, lr=lr, batch_size=REGISTRY_BATCH, seed=seed,
                        progress=False, optimizer="adam", schedule="none", optimizer_options={}, lbfgs_steps=0,
                        balance="none",
                        **kwargs)
