"""What ``fit`` settles before training: defaults, checks, and the run's identity."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from torch import nn

from sirenpde import optim
from sirenpde.fields import ENGINES
from sirenpde.nn import model_config
from sirenpde.problem import Problem, identity, split_batch
from sirenpde.training.balance import check_balance
from sirenpde.training.gauss_newton import GAUSS_NEWTON, check_damping_options

GN_BATCH_SIZE = 1024  # default points of a Gauss-Newton phase (J is points x parameters)
from sirenpde.io.archive import plain_data


@dataclass
class Settings:
    """The resolved training settings of one run (the problem's defaults filled in)."""

    steps: int
    lr: float
    batch_size: int
    optimizer: str
    optimizer_options: Optional[dict]
    schedule: Optional[str]
    lbfgs_steps: int
    lbfgs_batch_size: int
    engine: str
    seed: int
    balance: str = "none"
    gn_steps: int = 0
    gn_batch_size: int = 256
    gn_refresh: int = 0
    dtype: Optional[str] = None  # None: the model's own

    @property
    def total_steps(self) -> int:
        return self.steps + self.lbfgs_steps + self.gn_steps


DTYPES = ("float32", "float64")


def resolve_settings(problem: Problem, steps, lr, batch_size, optimizer, optimizer_options, schedule,
                     lbfgs_steps, lbfgs_batch_size, engine, seed, balance=None, gn_steps=None,
                     gn_batch_size=None, gn_refresh=None, dtype=None) -> Settings:
    """Fill in the problem's defaults and check every setting before any work starts.

    ``optimizer=None`` takes ``problem.default_optimizer`` (Adam unless the problem sets
    another). A Gauss-Newton run takes ``problem.default_gn_run_steps`` and, with ``dtype=None``,
    ``problem.default_dtype`` (its recipe's, where it has one); otherwise ``dtype=None`` keeps the
    model's own precision."""
    whole_gn = (optimizer or getattr(problem, "default_optimizer", "adam")) == GAUSS_NEWTON
    optimizer = optimizer or getattr(problem, "default_optimizer", "adam")
    if optimizer not in optim.OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid optimizers: {', '.join(optim.OPTIMIZERS)}")
    if whole_gn:
        for name, value in (("lbfgs_steps", lbfgs_steps), ("gn_steps", gn_steps)):
            if value:
                raise ValueError(f"{name}={value}: a finish after a Gauss-Newton run is not supported; "
                                 f"run more Gauss-Newton steps (steps=) or use optimizer='adam' with {name}")
        lbfgs_steps, gn_steps = 0, 0  # balance: the weights are set once, at the first step
        if gn_batch_size is None and batch_size is not None:  # a Gauss-Newton run's batch is its points
            gn_batch_size = batch_size
        if steps is None:
            steps = getattr(problem, "default_gn_run_steps", None) or 200
        if dtype is None:  # the precision of the problem's Gauss-Newton recipe, if it has one
            dtype = getattr(problem, "default_dtype", None)
    steps = problem.default_steps if steps is None else steps
    lr = problem.default_lr if lr is None else lr
    batch_size = problem.default_batch_size if batch_size is None else batch_size
    schedule = getattr(problem, "default_schedule", None) if schedule is None else schedule
    lbfgs_steps = getattr(problem, "default_lbfgs_steps", 0) if lbfgs_steps is None else lbfgs_steps
    if lbfgs_batch_size is None:
        lbfgs_batch_size = getattr(problem, "default_lbfgs_batch_size", None) or batch_size
    gn_steps = getattr(problem, "default_gn_steps", 0) if gn_steps is None else gn_steps
    if gn_batch_size is None:  # J is (points x parameters): about a thousand points, not a training batch
        gn_batch_size = getattr(problem, "default_gn_batch_size", None) or min(batch_size, GN_BATCH_SIZE)
    gn_refresh = getattr(problem, "default_gn_refresh", 0) if gn_refresh is None else gn_refresh
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if optimizer_options is None and optimizer == "adam":
        optimizer_options = getattr(problem, "default_adam_options", None)
    if whole_gn and optimizer_options:
        check_damping_options(optimizer_options)
    balance = check_balance(getattr(problem, "default_balance", None) if balance is None else balance)
    s = Settings(_int("steps", steps, 0), _float("lr", lr), _int("batch_size", batch_size, 1), optimizer,
                 dict(optimizer_options) if optimizer_options else None, schedule,
                 _int("lbfgs_steps", lbfgs_steps, 0), _int("lbfgs_batch_size", lbfgs_batch_size, 1), engine,
                 _int("seed", seed, None), balance, _int("gn_steps", gn_steps, 0),
                 _int("gn_batch_size", gn_batch_size, 1), _int("gn_refresh", gn_refresh, 0), dtype)
    if schedule not in (None, "none") and schedule not in optim.SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid schedules: {', '.join(optim.SCHEDULES)}, 'none'")
    if engine not in ENGINES:
        raise ValueError(f"unknown derivative engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    return s


def _int(name: str, value, low: Optional[int]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _float(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


def check_model(problem: Problem, model: nn.Module) -> None:
    for attr in ("in_features", "out_features"):
        want, got = getattr(problem, attr), getattr(model, attr, None)
        if got is not None and got != want:
            raise ValueError(f"model has {attr}={got} but problem {problem.name!r} needs {attr}={want}")


def batch_counts(problem_constraints, settings: Settings) -> tuple[list[int], list[int]]:
    """Points per constraint in the first phase and in the L-BFGS finish."""
    return (split_batch(problem_constraints, settings.batch_size),
            split_batch(problem_constraints, settings.lbfgs_batch_size))


def gn_counts(problem_constraints, settings: Settings) -> list[int]:
    """Points per constraint in the Gauss-Newton finish."""
    return split_batch(problem_constraints, settings.gn_batch_size)


def run_identity(problem: Problem, model: nn.Module, settings: Settings) -> dict:
    """What a checkpoint must match to be resumed by this run: the problem's identity (derived from
    every constructor option, :func:`sirenpde.problem.identity`), the model and the settings.
    ``lbfgs_steps`` and ``gn_steps`` are left out: a finish can be lengthened, which continues the run
    exactly as one longer run would (a Gauss-Newton phase's points and damping are in the
    checkpoint). ``gn_batch_size`` and ``gn_refresh`` are left out when
    no phase is Gauss-Newton, and ``dtype`` when it is None (the model's own), so checkpoints
    written before they existed still resume. ``balance`` is left out when it is ``"none"``, so checkpoints written before
    loss balancing existed (all of them unbalanced) still resume."""
    try:
        model_id = model_config(model)
    except ValueError:  # not a built-in model: its class and parameter shapes
        model_id = {"class": type(model).__qualname__,
                    "parameters": {k: list(v.shape) for k, v in model.state_dict().items()}}
    gn_used = settings.gn_steps or settings.optimizer == GAUSS_NEWTON
    settings_id = {k: v for k, v in asdict(settings).items()
                   if k not in ("lbfgs_steps", "gn_steps") and not (k == "balance" and v == "none")
                   and not (k in ("gn_batch_size", "gn_refresh") and not gn_used)
                   and not (k == "dtype" and v is None)}
    return plain_data({"problem": identity(problem), "model": model_id, "settings": settings_id})
