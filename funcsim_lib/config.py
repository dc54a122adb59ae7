"""Typed configuration of a study, and the named profiles.

A *study* is a set of runs of one architecture and one recipe that differ only
in their seeds. Its configuration is a tree of frozen dataclasses; the resolved
tree is hashed to name the study's folder in the run store, so every field that
changes a stored number belongs here and nothing else does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

# Bump when the meaning of stored files changes, so old folders are not reused.
STORE_FORMAT = 1

# Maximum number of points in one landscape grid. Every point is one pass over
# the test set, so the bound only catches a mistyped size, such as an extra
# digit, before any work starts. The default plane has 51 x 51 = 2,601 points.
MAX_GRID_POINTS = 4_000_000
# Direction seeds are stored as int64.
MAX_DIRECTION_SEED = 2**63 - 1
# A linspace point within this many grid steps of 0 counts as the point 0,
# because float rounding moves it by a few ulps (np.linspace(-1, 1, 99)[49] is
# 1.1e-16); Grid.from_config then sets it to exactly 0.
ORIGIN_TOLERANCE = 1e-9


def check_at_least(name: str, value: int | None, minimum: int) -> None:
    if value is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")


def is_int(value: Any) -> bool:
    """Return whether ``value`` is an int, excluding bool (a subclass of int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Return whether ``value`` is an int or a float, bool excluded."""
    return is_int(value) or isinstance(value, float)


def check_int(name: str, value: Any, minimum: int) -> None:
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    check_at_least(name, value, minimum)


def check_tuple(name: str, value: Any, form: str, kind: type) -> None:
    """Check that ``value`` is a tuple shaped like ``form``, of ints or reals.

    ``kind`` int takes ints only, ``kind`` float takes ints and floats, as
    ``coerce`` does. ``form`` is what a reader would write, such as
    ``(n_alpha, n_beta)``, and its number of commas sets the length.
    """
    length = form.count(",") + 1
    accepts = is_int if kind is int else is_real
    if (
        not isinstance(value, tuple)
        or len(value) != length
        or not all(accepts(v) for v in value)
    ):
        noun = "ints" if kind is int else "numbers"
        raise TypeError(f"{name} must be a tuple {form} of {noun}, got {value!r}")


def check_finite(name: str, values: tuple[float, ...]) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite, got {values!r}")


def check_grid_size(name: str, n_points: tuple[int, ...]) -> None:
    total = math.prod(n_points)
    if total > MAX_GRID_POINTS:
        raise ValueError(
            f"{name} gives a grid of {total:,} points, more than the maximum of "
            f"{MAX_GRID_POINTS:,} per grid (each point is one pass over the test "
            f"set), got {n_points!r}"
        )


def origin_index(n_points: int, start: float, stop: float) -> int | None:
    """Return the index of 0 in ``np.linspace(start, stop, n_points)``, or None.

    A point within ``ORIGIN_TOLERANCE`` grid steps of 0 counts as 0.
    """
    if n_points < 2 or not start <= 0.0 <= stop or start == stop:
        return None
    position = -start / (stop - start) * (n_points - 1)
    index = round(position)
    if abs(position - index) > ORIGIN_TOLERANCE:
        return None
    return index


def counts_with_origin(n_points: int, start: float, stop: float) -> list[int]:
    """Return the counts of at least 3 nearest ``n_points`` that put 0 on the axis.

    0 is a point when ``n_points - 1`` is a multiple of the denominator of
    ``-start / (stop - start)``: 2 for a span symmetric about 0, so odd counts.
    The list is empty when no count up to ``MAX_GRID_POINTS`` puts 0 on it.
    """
    share = Fraction(-start / (stop - start)).limit_denominator(MAX_GRID_POINTS)
    step = share.denominator
    lowest = 1 + math.ceil(2 / step) * step
    below = 1 + (n_points - 1) // step * step
    above = max(lowest, below + step)
    counts = [n for n in (below, above) if 3 <= n <= MAX_GRID_POINTS]
    return [n for n in counts if origin_index(n, start, stop) is not None]


def validate_seeds(name: str, seeds: Any) -> None:
    if not isinstance(seeds, tuple) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds
    ):
        raise TypeError(f"{name} must be a tuple of int, got {seeds!r}")
    if len(seeds) < 2:
        raise ValueError(f"{name} needs at least 2 seeds (K >= 1), got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{name} must be distinct, got {seeds!r}")
    if any(s < 0 for s in seeds):
        raise ValueError(f"{name} must be non-negative, got {seeds!r}")


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are split and augmented."""

    name: str = "digits"  # "digits" (scikit-learn) or "cifar10"
    root: str | None = None  # cifar10 only: data folder, see funcsim_lib.data
    download: bool = False  # cifar10 only: let torchvision download into root
    test_fraction: float = 0.2  # digits only: share of the 1,797 images held out
    split_seed: int = 0  # digits only: the fixed stratified train/test split
    n_train: int | None = None  # stratified subset of the training set; None: all
    n_test: int | None = None  # stratified subset of the test set; None: all
    crop_padding: int = 0  # random crop after zero padding by this many pixels
    hflip: bool = False  # random horizontal flip with probability 0.5

    def __post_init__(self) -> None:
        if self.name not in ("digits", "cifar10"):
            raise ValueError(
                f"data.name must be 'digits' or 'cifar10', got {self.name!r}"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(
                f"data.test_fraction must be in (0, 1), got {self.test_fraction!r}"
            )
        check_at_least("data.n_train", self.n_train, 1)
        check_at_least("data.n_test", self.n_test, 1)
        check_at_least("data.crop_padding", self.crop_padding, 0)


@dataclass(frozen=True)
class ModelConfig:
    """Arguments of timm's ``VisionTransformer``."""

    img_size: int = 8
    patch_size: int = 2
    in_chans: int = 1
    num_classes: int = 10
    embed_dim: int = 48
    depth: int = 3
    num_heads: int = 3
    mlp_ratio: float = 2.0
    drop_rate: float = 0.0  # dropout after the embedding and in the MLPs
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0  # stochastic depth
    # PyTorch's fused CPU attention kernel is ~2.5x slower than the explicit
    # matmul path for 17 tokens of head width 16 (torch 2.14, 2 threads).
    fused_attn: bool = False

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "in_chans", "num_classes", "depth"):
            check_at_least(f"model.{name}", getattr(self, name), 1)
        if self.img_size % self.patch_size:
            raise ValueError(
                f"model.img_size ({self.img_size}) must be a multiple of "
                f"model.patch_size ({self.patch_size})"
            )
        if self.embed_dim < 1 or self.embed_dim % self.num_heads:
            raise ValueError(
                f"model.embed_dim ({self.embed_dim}) must be a positive multiple "
                f"of model.num_heads ({self.num_heads})"
            )


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation recipe shared by every run of a study."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-3  # peak learning rate of AdamW
    weight_decay: float = 0.05  # decoupled; not applied to biases, norms, tokens
    warmup_fraction: float = 0.1  # share of the steps with a linear warm-up
    label_smoothing: float = 0.0
    save_epoch_weights: bool = True  # store the weights after every epoch too

    def __post_init__(self) -> None:
        check_at_least("train.epochs", self.epochs, 1)
        check_at_least("train.batch_size", self.batch_size, 1)
        if not self.lr > 0:
            raise ValueError(f"train.lr must be positive, got {self.lr!r}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(
                f"train.warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}"
            )


@dataclass(frozen=True)
class StudyConfig:
    """One study: data, model, recipe and the seeds of its runs.

    ``init_seeds[0]`` and ``data_seeds[0]`` are the seeds of ``base``; element
    ``k`` of each belongs to ``disdo_k`` and ``siddo_k`` respectively, so both
    tuples have length K + 1.
    """

    profile: str = "digits"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    init_seeds: tuple[int, ...] = (0, 1, 2, 3)
    data_seeds: tuple[int, ...] = (0, 1, 2, 3)
    device: str = "cpu"

    def __post_init__(self) -> None:
        validate_seeds("init_seeds", self.init_seeds)
        validate_seeds("data_seeds", self.data_seeds)
        if len(self.init_seeds) != len(self.data_seeds):
            raise ValueError(
                "init_seeds and data_seeds must have the same length (K + 1), "
                f"got {len(self.init_seeds)} and {len(self.data_seeds)}"
            )

    @property
    def k(self) -> int:
        """Number of SIDDO runs, and of DISDO runs."""
        return len(self.init_seeds) - 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        """Return a short, stable hash of the resolved configuration."""
        payload = {"store_format": STORE_FORMAT, **self.to_dict()}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class LandscapeConfig:
    """Loss-landscape grids around trained models (Li et al. 2018).

    The random plane of a run is theta + alpha * d1 + beta * d2, with d1 and d2
    filter-normalised Gaussian directions; the line between two runs is
    theta_a + alpha * (theta_b - theta_a); the model plane passes through
    three runs. Every grid is evaluated on the test set in eval mode.
    """

    n_points: tuple[int, int] = (51, 51)  # (n_alpha, n_beta), both ends included
    span: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)  # a0, a1, b0, b1
    direction_seed: int = 0
    runs: tuple[str, ...] = ("base", "siddo_1", "disdo_1")
    include_1d: bool = False  # also perturb biases and norm weights
    embed_policy: str = "token"  # pos_embed, cls_token: "token", "tensor" or "zero"
    n_inputs: int | None = None  # fixed random subset of the test set; None: all
    line_points: int = 41  # points on each line between two runs
    line_span: tuple[float, float] = (-0.5, 1.5)  # alpha range; 0 and 1 are the runs
    plane_points: tuple[int, int] = (31, 31)  # grid of the plane through three runs
    plane_margin: float = 0.3  # margin around the three runs, as a share of extent

    def __post_init__(self) -> None:
        self._check_random_plane()
        self._check_line()
        self._check_model_plane()
        self._check_runs()
        check_int("landscape.direction_seed", self.direction_seed, 0)
        if self.direction_seed > MAX_DIRECTION_SEED:
            raise ValueError(
                f"landscape.direction_seed must be at most {MAX_DIRECTION_SEED} "
                f"(it is stored as int64), got {self.direction_seed!r}"
            )
        if not isinstance(self.include_1d, bool):
            raise TypeError(
                f"landscape.include_1d must be a bool, got {self.include_1d!r}"
            )
        if self.embed_policy not in ("token", "tensor", "zero"):
            raise ValueError(
                "landscape.embed_policy must be 'token', 'tensor' or 'zero', "
                f"got {self.embed_policy!r}"
            )
        if self.n_inputs is not None:
            check_int("landscape.n_inputs", self.n_inputs, 1)

    def _set_floats(self, name: str) -> None:
        """Store a tuple of numbers as floats, so that (-1, 1) and (-1.0, 1.0)
        give the same settings and the same stored key."""
        object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))

    def _check_random_plane(self) -> None:
        """Check ``n_points`` and ``span``: the trained model must be a grid point."""
        check_tuple("landscape.n_points", self.n_points, "(n_alpha, n_beta)", int)
        check_tuple("landscape.span", self.span, "(a0, a1, b0, b1)", float)
        self._set_floats("span")
        check_finite("landscape.span", self.span)
        a0, a1, b0, b1 = self.span
        if not (a0 <= 0.0 <= a1 and b0 <= 0.0 <= b1 and a0 < a1 and b0 < b1):
            raise ValueError(
                "landscape.span must be (a0, a1, b0, b1) with a0 <= 0 <= a1, "
                "b0 <= 0 <= b1, a0 < a1 and b0 < b1, because the trained model "
                f"(0, 0) must be a grid point, got {self.span!r}"
            )
        check_grid_size("landscape.n_points", self.n_points)
        for axis, n, start, stop in (
            ("n_alpha", self.n_points[0], a0, a1),
            ("n_beta", self.n_points[1], b0, b1),
        ):
            if n < 3 or origin_index(n, start, stop) is None:
                raise ValueError(self._origin_message(axis, n, start, stop))

    def _origin_message(self, axis: str, n: int, start: float, stop: float) -> str:
        """Return why ``n`` points over [start, stop] are rejected, and a fix."""
        coordinate = "alpha" if axis == "n_alpha" else "beta"
        if n < 3:
            problem = f"{axis} = {n} is fewer than 3"
        else:
            problem = (
                f"{axis} = {n} points over [{start}, {stop}] miss {coordinate} = 0"
            )
        counts = counts_with_origin(n, start, stop)
        if counts:
            fix = f"use {axis} = " + " or ".join(str(c) for c in counts)
            if start == -stop:
                fix += " (a span symmetric about 0 needs an odd count)"
        else:
            fix = (
                f"no count up to {MAX_GRID_POINTS:,} puts 0 on this axis, so choose "
                "span ends in a simple ratio, such as -1 and 1"
            )
        return (
            "landscape.n_points must have at least 3 points per axis and a point at "
            f"0 on each, so that the trained model (0, 0) is a grid point. {problem}; "
            f"{fix}. Got n_points {self.n_points!r} and span {self.span!r}"
        )

    def _check_line(self) -> None:
        check_int("landscape.line_points", self.line_points, 2)
        check_grid_size("landscape.line_points", (self.line_points,))
        check_tuple("landscape.line_span", self.line_span, "(start, stop)", float)
        self._set_floats("line_span")
        check_finite("landscape.line_span", self.line_span)
        if not self.line_span[0] < self.line_span[1]:
            raise ValueError(
                "landscape.line_span must be increasing (start, stop), "
                f"got {self.line_span!r}"
            )

    def _check_model_plane(self) -> None:
        form = "(n_alpha, n_beta)"
        check_tuple("landscape.plane_points", self.plane_points, form, int)
        if min(self.plane_points) < 2:
            raise ValueError(
                "landscape.plane_points must be at least 2 per axis, "
                f"got {self.plane_points!r}"
            )
        check_grid_size("landscape.plane_points", self.plane_points)
        if not is_real(self.plane_margin):
            raise TypeError(
                f"landscape.plane_margin must be a number, got {self.plane_margin!r}"
            )
        object.__setattr__(self, "plane_margin", float(self.plane_margin))
        if not (math.isfinite(self.plane_margin) and self.plane_margin >= 0):
            raise ValueError(
                "landscape.plane_margin must be finite and >= 0, "
                f"got {self.plane_margin!r}"
            )

    def _check_runs(self) -> None:
        if not isinstance(self.runs, tuple) or not all(
            isinstance(r, str) for r in self.runs
        ):
            raise TypeError(
                "landscape.runs must be a tuple of run names such as "
                f"('base', 'siddo_1'), got {self.runs!r}"
            )
        if not self.runs:
            raise ValueError("landscape.runs must name at least one run, got ()")
        if len(set(self.runs)) != len(self.runs):
            raise ValueError(f"landscape.runs must be distinct, got {self.runs!r}")


@dataclass(frozen=True)
class EmbeddingConfig:
    """The function-space embedding of every checkpoint (Fort et al. 2019)."""

    n_inputs: int = 360  # size of the fixed test subset whose outputs are embedded
    subset_seed: int = 0
    seed: int = 0  # random_state of t-SNE, MDS and the spectral embedding
    # Share of the variance that the principal components fed to t-SNE, MDS and
    # the spectral embedding must explain; None: every component (lossless).
    pca_variance: float | None = 0.99
    # t-SNE; lowered to (n_distinct - 1) / 3 where a study has too few points.
    perplexity: float = 30.0
    tsne_max_iter: int = 1000  # scikit-learn requires at least 250
    # OpenMP threads of t-SNE's gradient. More are faster on idle cores, but
    # on busy ones threads that wait for each other can be 10x slower.
    tsne_n_threads: int = 1
    mds_max_iter: int = 300  # SMACOF iterations, from a classical-MDS start
    # Neighbours in the spectral embedding's affinity graph, the point itself
    # included; None: a tenth of the distinct points, at least 2. Raised
    # until the graph is connected.
    spectral_n_neighbors: int | None = None

    def __post_init__(self) -> None:
        check_at_least("embedding.n_inputs", self.n_inputs, 1)
        check_at_least("embedding.tsne_max_iter", self.tsne_max_iter, 250)
        check_at_least("embedding.tsne_n_threads", self.tsne_n_threads, 1)
        check_at_least("embedding.mds_max_iter", self.mds_max_iter, 1)
        check_at_least("embedding.spectral_n_neighbors", self.spectral_n_neighbors, 2)
        if self.pca_variance is not None and not 0.0 < self.pca_variance <= 1.0:
            raise ValueError(
                "embedding.pca_variance must be in (0, 1] or None, "
                f"got {self.pca_variance!r}"
            )
        if not self.perplexity > 0:
            raise ValueError(
                f"embedding.perplexity must be positive, got {self.perplexity!r}"
            )


@dataclass(frozen=True)
class Profile:
    """A named bundle of defaults: the study and its analyses."""

    study: StudyConfig
    landscape: LandscapeConfig
    embedding: EmbeddingConfig
    description: str


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        study=StudyConfig(
            profile="smoke",
            data=DataConfig(n_train=240, n_test=100),
            model=ModelConfig(embed_dim=16, depth=1, num_heads=2, drop_rate=0.1),
            train=TrainConfig(epochs=2, batch_size=32),
            init_seeds=(0, 1, 2),
            data_seeds=(0, 1, 2),
        ),
        landscape=LandscapeConfig(n_points=(5, 5)),
        embedding=EmbeddingConfig(n_inputs=50),
        description="digits, a few hundred images, a tiny model: tests, seconds",
    ),
    "digits": Profile(
        study=StudyConfig(profile="digits"),
        landscape=LandscapeConfig(),
        embedding=EmbeddingConfig(),
        description="scikit-learn's 1,797 handwritten digits, K = 3: a CPU, minutes",
    ),
    "cifar10": Profile(
        study=StudyConfig(
            profile="cifar10",
            data=DataConfig(
                name="cifar10", root="data/cifar10", crop_padding=4, hflip=True
            ),
            model=ModelConfig(
                img_size=32,
                patch_size=4,
                in_chans=3,
                embed_dim=192,
                depth=9,
                num_heads=3,
                mlp_ratio=2.0,
                drop_path_rate=0.1,
                fused_attn=True,
            ),
            train=TrainConfig(epochs=100, batch_size=128, lr=1e-3, label_smoothing=0.1),
            device="cuda",
        ),
        landscape=LandscapeConfig(),
        embedding=EmbeddingConfig(n_inputs=500),
        description="CIFAR-10 through torchvision, ViT-Tiny-like: one GPU, hours",
    ),
}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``, or raise naming the known ones."""
    if not isinstance(name, str) or name not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown profile {name!r}; expected one of: {known}")
    return PROFILES[name]


def replace_fields(obj: Any, overrides: dict[str, Any], prefix: str = "") -> Any:
    """Return a copy of dataclass ``obj`` with dotted ``overrides`` applied.

    Keys are field names, or paths such as ``"train.epochs"``. Values are
    checked against the field's annotation, so a string where an int belongs
    is rejected here rather than deep inside a training loop. Lists become
    tuples, and an int is accepted where a float is expected.
    """
    hints = typing.get_type_hints(type(obj))
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head not in hints:
            raise ValueError(
                f"unknown setting {prefix + head!r}; expected one of: "
                + ", ".join(prefix + n for n in sorted(hints))
            )
        is_group = dataclasses.is_dataclass(getattr(obj, head))
        if rest and is_group:
            nested.setdefault(head, {})[rest] = value
        elif is_group and isinstance(value, dict):
            nested.setdefault(head, {}).update(value)
        elif rest or is_group:
            raise TypeError(f"{prefix + head} is a group of settings; set its fields")
        else:
            direct[head] = coerce(prefix + head, hints[head], value)
    for head, sub in nested.items():
        direct[head] = replace_fields(getattr(obj, head), sub, prefix + head + ".")
    return dataclasses.replace(obj, **direct)


def coerce(name: str, hint: Any, value: Any) -> Any:
    """Return ``value`` checked against type ``hint``, raising ``TypeError``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            try:
                return coerce(name, option, value)
            except TypeError as error:
                errors.append(error)
        raise TypeError(f"{name} must be {describe(hint)}, got {value!r}")
    if origin is list:
        if not isinstance(value, list | tuple):
            raise TypeError(f"{name} must be {describe(hint)}, got {value!r}")
        (element,) = typing.get_args(hint)
        return [coerce(f"{name}[{i}]", element, v) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"{name} must be a list ({describe(hint)}), got {value!r}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        elif len(args) != len(value):
            raise TypeError(
                f"{name} must have {len(args)} elements, got {len(value)}: {value!r}"
            )
        return tuple(
            coerce(f"{name}[{i}]", a, v) for i, (a, v) in enumerate(zip(args, value))
        )
    if hint is type(None):
        if value is not None:
            raise TypeError(f"{name} must be None, got {value!r}")
        return None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise TypeError(f"{name} must be int, got {value!r}")
    if not isinstance(value, hint):
        raise TypeError(f"{name} must be {describe(hint)}, got {value!r}")
    return value


def describe(hint: Any) -> str:
    """Return a type annotation as a reader would write it."""
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return "None" if hint is type(None) else hint.__name__
    return str(hint).replace("typing.", "")


def resolve_study(profile: str = "digits", **overrides: Any) -> StudyConfig:
    """Return the study of ``profile`` with dotted ``overrides`` applied.

    >>> resolve_study("smoke", **{"train.epochs": 3}).train.epochs
    3
    """
    return replace_fields(get_profile(profile).study, overrides)
