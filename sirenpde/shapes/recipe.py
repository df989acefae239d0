"""Quality levels of a shape fit and the capacity rule: what :func:`~sirenpde.shapes.fit.fit_sdf`
runs when the caller names no network size, step count, batch or rate.

A :class:`Recipe` is chosen from the quality level asked for (``fast``, ``default``, ``best``)
and from the cloud: how many points it has and how rough it is (the scatter of the points off
their local planes, :func:`~sirenpde.shapes.roughness.roughness`). A dense cloud carries detail
that a 4x128 network cannot hold, so it gets a wider one (with fewer points per step, so a step
costs the same); a sparse cloud does not. The roughness picks the noise setting
(:func:`~sirenpde.shapes.fit.fit_sdf`) and is printed with the capacity class. The numbers below come from the ablation in
``benchmarks/sdf_recipe.py`` (``benchmarks/RESULTS.md``, "Shape fits five times sooner").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from sirenpde.registry import QUALITIES
from sirenpde.shapes.roughness import NOISY_ROUGHNESS

# A cloud is "dense" from this many points on: enough samples for detail a 4x128 network loses
DENSE_POINTS = 20_000


@dataclass(frozen=True)
class Recipe:
    """Everything a quality level sets for one fit.

    Attributes
    ----------
    quality : the level's name
    hidden_features, hidden_layers : the Siren's width and hidden-to-hidden layers
    steps, batch_size, lr : Adam steps, points per step, peak rate (5% warm-up, cosine decay)
    init_scale : factor on the initial weights of the hidden-to-hidden sine layers (1: the paper's)
    off_sampling : the SDF problem's ``off_sampling`` ("uniform" or "spacing")
    capacity : the cloud's class: "dense and clean", "sparse", "noisy" or "not measured"
    refine : how :func:`~sirenpde.shapes.fit.reconstruct` moves the mesh's vertices onto the cloud
        after meshing (:mod:`sirenpde.shapes.refine`), at every level: ``"detail"`` on a dense and
        clean cloud, ``"smooth"`` on a dense noisy one, None (not at all) on a sparse one
    resolution : the marching-cubes grid :func:`~sirenpde.shapes.fit.reconstruct` uses (points per
        axis of the normalised cube)
    """

    quality: str
    hidden_features: int
    hidden_layers: int
    steps: int
    batch_size: int
    lr: float
    init_scale: float
    off_sampling: str
    capacity: str
    refine: Optional[str] = None
    resolution: int = 256

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def network(self) -> str:
        return f"{self.hidden_layers + 1}x{self.hidden_features}"


# quality -> (refined: a dense and clean cloud, whose mesh is refined onto it afterwards; wide: a
# dense noisy cloud; narrow: a sparse clean one; narrow noisy: a sparse noisy one), each (width,
# steps, points per step, lr).
# On one thread a 4x256 step of 2,000 points costs less than a 4x128 step of 6,000 (0.11 s against
# 0.13-0.15 s), and over 400 steps it reached an exact Chamfer of 4.0e-4 on the clean 50k bunny
# (what 2,000 steps of the former 4x128 default gave) against 5.8e-4; the ablation table is in
# benchmarks/RESULTS.md. Refined onto the cloud, 200 steps of it reach what 400 do (exact Chamfer
# 1.15e-4 against 1.14e-4 on the clean 50k bunny, 1.3e-4 both on fandisk), so a dense clean cloud
# spends half the steps. A sparse noisy cloud gets 250 fast steps: at 150 the noisy 5k fandisk stayed
# 1% behind screened Poisson (0.00341 against 0.00338), at 200 0.1% (0.003383), at 250 ahead
# (0.00334, 7.2 s in all on 2 cores); a sparse clean one is ahead at 150 (0.00273 against 0.00290).
_LEVELS = {
    "fast": ((128, 150, 4000, 1e-3), (128, 150, 4000, 1e-3), (128, 150, 4000, 1e-3), (128, 250, 4000, 1e-3)),
    "default": ((256, 200, 2000, 1e-3), (256, 400, 2000, 1e-3), (128, 400, 6000, 1e-3), (128, 400, 6000, 1e-3)),
    "best": ((256, 3000, 6000, 1e-3),) * 4,
}
# Marching-cubes resolution of each level. 192^3 meshes as well as 256^3 at these network sizes (clean
# 50k bunny, fast level: sampled Chamfer-L1 0.002663 against 0.002665, refined exact 1.17e-4 against
# 1.14e-4) in 40% of the time; best keeps 256.
_RESOLUTION = {"fast": 192, "default": 192, "best": 256}


def level_resolution(quality: str) -> int:
    """The marching-cubes resolution of a quality level."""
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
    return _RESOLUTION[quality]


# Measured not to pay in the recipe (RESULTS.md): init_scale 1.5 and off_sampling="spacing" helped
# by 6% and 2% at lr 1e-3 on the bunny but broke the fit at 3e-3 and on the torus; both stay options.
_INIT_SCALE = 1.0
_OFF_SAMPLING = "uniform"


def capacity_class(points: int, roughness: Optional[float]) -> str:
    """``"dense and clean"``, ``"sparse"``, ``"noisy"`` or ``"not measured"`` for a cloud."""
    if roughness is None:
        return "not measured"
    if roughness > NOISY_ROUGHNESS:
        return "noisy"
    return "dense and clean" if points >= DENSE_POINTS else "sparse"


REFINE_CHOICES = ("auto", "detail", "smooth", "none")


def choose_recipe(points: int, roughness: Optional[float], quality: str = QUALITIES.default,
                  refine: str = "auto") -> Recipe:
    """The recipe of ``quality`` for a cloud of ``points`` points with that roughness, when the mesh
    will be refined as ``refine`` says ("auto": the cloud's own choice, see ``Recipe.refine``; "none":
    not refined, so a dense clean cloud gets the steps an unrefined mesh needs).

    Raises ``ValueError`` naming the choices for an unknown ``quality`` or ``refine``.
    """
    if quality not in QUALITIES:
        raise ValueError(f"fit_sdf: quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
    if refine not in REFINE_CHOICES:
        raise ValueError(f"refine must be one of {', '.join(REFINE_CHOICES)}, got {refine!r}")
    refined, wide, narrow, narrow_noisy = _LEVELS[quality]
    capacity = capacity_class(points, roughness)
    dense = points >= DENSE_POINTS
    # the data is the surface only where it is dense and clean (a detail projection would follow noise);
    # a dense noisy cloud is averaged over some twenty points instead; a sparse cloud's spacing is too
    # coarse for either (RESULTS.md)
    own = "detail" if capacity == "dense and clean" else "smooth" if capacity == "noisy" and dense else None
    mode = own if refine == "auto" else None if refine == "none" else refine
    # the wide network also paid on the noisy 50k bunny: Chamfer-L1 0.00283 against 0.00286 (4x128)
    width, steps, batch, lr = (refined if capacity == "dense and clean" and mode == "detail" else
                               wide if points >= DENSE_POINTS and capacity != "not measured" else
                               narrow_noisy if capacity == "noisy" else narrow)
    return Recipe(quality, width, 3, steps, batch, lr, _INIT_SCALE, _OFF_SAMPLING, capacity,
                  refine=mode, resolution=_RESOLUTION[quality])


def recipe_line(metadata: dict) -> str:
    """One line saying which network and step count a fit used and why (the CLI prints it)."""
    recipe = metadata.get("recipe")
    if not recipe:
        return ""
    layers, width = recipe["hidden_layers"], recipe["hidden_features"]
    network = "the given network" if layers is None or width is None else f"{layers + 1}x{width} Siren"
    return (f"quality {recipe['quality']}: {network}, {metadata.get('steps', recipe['steps'])} steps "
            f"of {recipe['batch_size']:,} points (cloud: {recipe['capacity']}, {metadata.get('points', 0):,} points; "
            f"dense from {DENSE_POINTS:,})"
            + (f"; mesh refined onto the cloud ({metadata['refine']['mode']})" if metadata.get("refine") else ""))
