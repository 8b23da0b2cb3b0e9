"""Dataclass configs, one per concern, that round-trip through JSON.

A run folder's ``config.json`` is a serialised :class:`RunConfig`; it holds everything needed to
rebuild the model and continue training.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Mapping

from jointvae_tf.errors import ConfigError, JointVAEError

SUPPORTED_IMAGE_SIZES = (32, 64)
SUPPORTED_CHANNELS = (1, 3)
RECONSTRUCTION_LOSSES = ("bce", "mse", "cauchy", "general")
AGREEMENT_OBJECTIVES = ("agreement", "mutual_information")
"""How the invariance term scores two views' categories (``jointvae_tf.core.invariance``): the probability that
they draw the same category, or the mutual information of their joint over the batch (IIC)."""
NORMALIZATIONS = ("none", "box", "moments", "affine", "silhouette")
"""Image normalisation of the data pipeline (``jointvae_tf.data.normalize``): none; crop to the ink's
bounding box and centre it (as MNIST was prepared); centre on the ink's centre of mass and scale its RMS
radius (rotation-invariant size); the same with the ink's covariance whitened (undoes stretch and shear);
the same on the drawing's filled silhouette (outlines and hatched fills become solid figures)."""
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
DISTRIBUTE_STRATEGIES = ("none", "mirrored", "multiworker")


@dataclasses.dataclass(frozen=True)
class LatentSpec:
    """The latent space: ``cont`` Gaussian dimensions and one categorical variable per entry of ``disc``.

    The latent vector fed to the decoder is ``[z (cont), c_1 (disc[0]), c_2 (disc[1]), ...]`` with each
    ``c_i`` one-hot (or relaxed one-hot while training); its width is :attr:`size`.
    """

    cont: int = 10
    disc: tuple[int, ...] = (10,)

    def __post_init__(self):
        object.__setattr__(self, "disc", tuple(int(k) for k in self.disc))
        if int(self.cont) != self.cont or self.cont < 0:
            raise ConfigError("cont", f"expected an integer >= 0, got {self.cont!r}")
        if any(k < 2 for k in self.disc):
            raise ConfigError("disc", f"every category count must be >= 2, got {list(self.disc)}")
        if self.cont == 0 and not self.disc:
            raise ConfigError("disc", "cannot be empty when cont is 0 (the latent space would be empty)")

    @property
    def disc_size(self) -> int:
        """Width of the concatenated one-hot discrete code."""
        return sum(self.disc)

    @property
    def size(self) -> int:
        """Width of the whole latent vector, ``cont + sum(disc)``."""
        return self.cont + self.disc_size

    @property
    def max_disc_capacity(self) -> float:
        """Largest KL (nats) the discrete code can carry against a uniform prior: ``sum(log K_i)``."""
        return float(sum(math.log(k) for k in self.disc))


@dataclasses.dataclass(frozen=True)
class CapacitySchedule:
    """Target KL capacity C(step) in nats, rising linearly from ``start`` to ``stop`` over ``steps``."""

    start: float = 0.0
    stop: float = 5.0
    steps: int = 25_000

    def __post_init__(self):
        if self.steps < 0 or self.start < 0 or self.stop < 0:
            raise ConfigError("", f"expected MIN,MAX,ITERS all >= 0, got {self.start},{self.stop},{self.steps}")

    @classmethod
    def parse(cls, text: str) -> "CapacitySchedule":
        """Parse ``"MIN,MAX,ITERS"`` (nats, nats, steps) as written on the command line."""
        parts = text.split(",")
        try:
            start, stop, steps = float(parts[0]), float(parts[1]), int(float(parts[2]))
            if len(parts) != 3:
                raise ValueError
        except (ValueError, IndexError):
            raise ConfigError("", f"expected MIN,MAX,ITERS such as 0,5,25000, got {text!r}") from None
        return cls(start, stop, steps)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Reconstruction loss and the weight of the capacity terms.

    ``kind``: ``bce`` | ``mse`` | ``cauchy`` | ``general`` (Barron); ``scale`` is the c of the robust
    losses (the initial value of the learned c for ``nll``; None: 0.1 for ``nll``, 1.0 for ``rho``),
    ``alpha`` the shape of ``general``. ``form``: ``rho`` uses the robust penalty as it is;
    ``nll`` adds the normaliser that makes it a negative log-likelihood in nats (see ``losses.py``).
    ``disc_balance``: weight of KL(batch-average q(c) || uniform) per discrete variable, which keeps every
    category in use (0 is the original objective; see ``latents.kl_marginal_uniform``).
    """

    kind: str = "bce"
    scale: float | None = None
    alpha: float = 1.0
    form: str = "nll"
    gamma: float = 30.0
    disc_balance: float = 0.0

    def __post_init__(self):
        if self.disc_balance < 0:
            raise ConfigError("disc_balance", f"expected a weight >= 0, got {self.disc_balance}")
        if self.kind not in RECONSTRUCTION_LOSSES:
            raise ConfigError("kind", f"expected one of {', '.join(RECONSTRUCTION_LOSSES)}, got {self.kind!r}")
        if self.form not in ("rho", "nll"):
            raise ConfigError("form", f"expected rho or nll, got {self.form!r}")
        if self.kind == "general" and self.form == "nll" and self.alpha < 0:
            raise ConfigError("alpha", f"the nll form needs alpha >= 0 (exp(-rho) is not integrable), got {self.alpha}")
        if self.scale is None:
            object.__setattr__(self, "scale", 0.1 if self.form == "nll" else 1.0)
        if self.scale <= 0:
            raise ConfigError("scale", f"expected a scale c > 0, got {self.scale}")
        if self.gamma < 0:
            raise ConfigError("gamma", f"expected gamma >= 0, got {self.gamma}")


@dataclasses.dataclass(frozen=True)
class InvarianceConfig:
    """What the discrete code should not see: random rotations up to ``rotation`` degrees either way,
    scalings by up to a factor ``1 + scale`` either way, shifts up to ``shift`` pixels along each axis,
    strokes thickened or thinned by up to ``thickness`` of a pixel, and the drawing style: with probability
    ``outline`` a drawing replaced by its outline, with probability ``hatch`` its fill by stripes (the two
    sum to at most 1), ink dimmed and ground raised by up to ``contrast`` of full scale, and pixel noise of
    standard deviation up to ``noise`` of full scale.

    ``weight`` multiplies the disagreement (nats) between q(c | x) and q(c | transformed x); 0 turns it off
    and skips the second encoder pass. ``objective`` (one of :data:`AGREEMENT_OBJECTIVES`) names how the
    disagreement is measured (see ``jointvae_tf.core.invariance``). ``every``: training measures the
    disagreement at every ``every``-th step only, at ``every`` times the weight (the same pull on average),
    and skips the second encoder pass on the other steps; evaluation measures it always.
    """

    rotation: float = 0.0
    weight: float = 0.0
    scale: float = 0.0
    shift: float = 0.0
    thickness: float = 0.0
    outline: float = 0.0
    hatch: float = 0.0
    contrast: float = 0.0
    noise: float = 0.0
    objective: str = "agreement"
    every: int = 1

    def __post_init__(self):
        if self.objective not in AGREEMENT_OBJECTIVES:
            raise ConfigError("objective", f"expected one of {', '.join(AGREEMENT_OBJECTIVES)}, got {self.objective!r}")
        if not 0 <= self.rotation <= 180:
            raise ConfigError("rotation", f"expected degrees in [0, 180], got {self.rotation}")
        if self.weight < 0:
            raise ConfigError("weight", f"expected a weight >= 0, got {self.weight}")
        if not 0 <= self.scale < 1:
            raise ConfigError("scale", f"expected a fraction in [0, 1), got {self.scale}")
        if self.shift < 0:
            raise ConfigError("shift", f"expected pixels >= 0, got {self.shift}")
        if not 0 <= self.thickness <= 1:
            raise ConfigError("thickness", f"expected a fraction of a pixel in [0, 1], got {self.thickness}")
        if not 0 <= self.outline <= 1:
            raise ConfigError("outline", f"expected a probability in [0, 1], got {self.outline}")
        if self.hatch < 0 or self.outline + self.hatch > 1:
            raise ConfigError("hatch", f"expected a probability >= 0 with outline + hatch <= 1, got {self.hatch} "
                                       f"(outline {self.outline})")
        if not 0 <= self.contrast < 1:
            raise ConfigError("contrast", f"expected a fraction in [0, 1), got {self.contrast}")
        if not 0 <= self.noise <= 1:
            raise ConfigError("noise", f"expected a standard deviation in [0, 1], got {self.noise}")
        if self.every < 1:
            raise ConfigError("every", f"expected an integer >= 1 (steps), got {self.every}")

    @property
    def active(self) -> bool:
        transforms = (self.rotation, self.scale, self.shift, self.thickness, self.outline, self.hatch,
                      self.contrast, self.noise)
        return self.weight > 0 and any(amount > 0 for amount in transforms)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the network's shape and objective.

    The defaults are the original JointVAE's MNIST recipe: cont 10, disc [10], both capacities 0 -> 5 nats
    over 25k steps, gamma 30; each dataset's preset (``jointvae_tf.training.presets``) changes what it needs."""

    image_size: int = 32
    channels: int = 1
    latent: LatentSpec = dataclasses.field(default_factory=LatentSpec)
    cont_capacity: CapacitySchedule = dataclasses.field(default_factory=CapacitySchedule)
    disc_capacity: CapacitySchedule = dataclasses.field(default_factory=CapacitySchedule)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    invariance: InvarianceConfig = dataclasses.field(default_factory=InvarianceConfig)
    temperature: float = 0.67
    hidden_units: int = 256

    def __post_init__(self):
        if self.image_size not in SUPPORTED_IMAGE_SIZES:
            raise ConfigError("image_size", f"expected one of {SUPPORTED_IMAGE_SIZES} pixels, got {self.image_size}")
        if self.channels not in SUPPORTED_CHANNELS:
            raise ConfigError("channels", f"expected 1 or 3, got {self.channels}")
        if self.temperature <= 0:
            raise ConfigError("temperature", f"expected > 0, got {self.temperature}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of the images the model reads and writes."""
        return (self.image_size, self.image_size, self.channels)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which dataset a run reads and how it is prepared (see ``jointvae_tf.data``).

    ``classes``: names of the classes read, in label order (label ``i`` is ``classes[i]``); empty reads
    every class of the dataset.
    """

    name: str = "four_shapes"
    data_dir: str | None = None
    normalize: str = "none"
    validation_fraction: float = 0.1
    max_examples: int | None = None
    classes: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError("normalize", f"expected one of {', '.join(NORMALIZATIONS)}, got {self.normalize!r}")
        if not 0 < self.validation_fraction < 0.5:
            raise ConfigError("validation_fraction", f"expected a fraction in (0, 0.5), got {self.validation_fraction}")
        if self.max_examples is not None and self.max_examples < 1:
            raise ConfigError("max_examples", f"expected an integer >= 1, got {self.max_examples}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping of a training run.

    Its length is ``steps`` optimizer steps when set (rounded up to whole epochs), else ``epochs`` passes
    over the training split. A recipe whose capacity schedules are counted in steps sets ``steps``, so it
    trains as long on 4,500 images as on 60,000. With ``stop_when_settled`` that length is an upper bound:
    the run ends once its discrete code has settled (``training.early_stopping``); a length the user gives
    turns it off (``training.presets``).
    """

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 5e-4
    seed: int = 0
    jit_compile: bool | None = None
    # Callbacks (divergence guard, checkpoints) run between executions; 10 is 1.2-1.3x the images/s of 1 at
    # batch 64 on 2 CPU cores (docs/results/2026-11-26-training-speed.md).
    steps_per_execution: int = 10
    checkpoint_every: int = 500
    eval_examples: int = 2000
    precision: str = "float32"
    distribute: str = "none"
    steps: int | None = None
    # Candidates started from different weights, the best by the label-free score continued (restarts.py).
    restarts: int = 1
    restart_steps: int = 2_000
    stop_when_settled: bool = True
    # Steps between two looks at the discrete code on the validation images (early_stopping.py).
    settle_every: int = 250
    # Looks in a row that must all show a settled code before the run stops (early_stopping.py).
    settle_patience: int = 3
    # A fall of the validation loss, over the last looks, smaller than this fraction of it is no
    # improvement: the code may count as settled (early_stopping.py).
    settle_loss_gain: float = 0.01

    def __post_init__(self):
        for name in ("epochs", "batch_size", "steps_per_execution", "checkpoint_every", "restarts",
                     "restart_steps", "settle_every", "settle_patience"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"expected an integer >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError("steps", f"expected an integer >= 1, got {self.steps}")
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate", f"expected > 0, got {self.learning_rate}")
        if not 0 <= self.settle_loss_gain < 1:
            raise ConfigError("settle_loss_gain", f"expected a fraction in [0, 1), got {self.settle_loss_gain}")
        if self.precision not in PRECISIONS:
            raise ConfigError("precision", f"expected one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.distribute not in DISTRIBUTE_STRATEGIES:
            raise ConfigError("distribute",
                              f"expected one of {', '.join(DISTRIBUTE_STRATEGIES)}, got {self.distribute!r}")

    def epochs_for(self, steps_per_epoch: int) -> int:
        """Epochs of ``steps_per_epoch`` steps the run trains: ``steps`` rounded up, or ``epochs``."""
        return self.epochs if self.steps is None else -(-self.steps // steps_per_epoch)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The whole description of a run, stored as ``config.json`` in its folder."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunConfig":
        """From :meth:`to_dict` output; missing keys take their defaults, unknown keys are a ConfigError."""
        return dataclass_from_dict(cls, values)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "RunConfig":
        """From settings named by their path, ``{"train.epochs": 5, "model.latent.disc": (4,)}``; a value may
        also be a whole section (``"model.cont_capacity": CapacitySchedule(...)``). Unset fields take their
        defaults, so defaults that depend on other fields (``LossConfig.scale``) follow the settings given."""
        return dataclass_from_dict(cls, nest(settings))

    def settings(self) -> dict[str, Any]:
        """Every field by its path, ``{"data.name": "four_shapes", ..., "train.seed": 0}`` (JSON values)."""
        return flatten(self.to_dict())

    def save(self, path: str) -> None:
        """Write as JSON atomically (temporary file, then rename)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.to_dict(), f, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "RunConfig":
        try:
            with open(path) as f:
                return cls.from_dict(json.load(f))
        except FileNotFoundError:
            raise JointVAEError(f"{path}: no config.json here; expected a run folder written by `jvae-tf train`") from None
        except json.JSONDecodeError as e:
            raise JointVAEError(f"{path}: not valid JSON ({e})") from None
        except ConfigError as e:
            raise JointVAEError(f"{path}: {e}") from None


RESUMABLE = ("train.epochs", "train.steps", "train.stop_when_settled", "train.distribute")
"""Settings a resumed run may change: train longer (a length given also trains it whole), or on other devices
(a checkpoint restores on any number)."""


def plain_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as :meth:`RunConfig.settings` writes them: a section given whole is split into its
    fields, lists become tuples."""
    plain: dict[str, Any] = {}
    for path, value in settings.items():
        if dataclasses.is_dataclass(value):
            plain.update(flatten(dataclasses.asdict(value), f"{path}."))
        else:
            plain[path] = tuple(value) if isinstance(value, list) else value
    return plain


def overlay(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Settings ``layers`` merged, later ones winning, field by field: a section given whole in one layer and
    in part in a later one (a preset's ``model.invariance`` and a flag's ``model.invariance.outline``) is
    split into its fields first; a section given whole replaces what earlier layers set inside it."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for path, value in layer.items():
            sections = path.split(".")
            for depth in range(1, len(sections)):
                section = ".".join(sections[:depth])
                if dataclasses.is_dataclass(merged.get(section)):
                    merged.update(plain_settings({section: merged.pop(section)}))
            if dataclasses.is_dataclass(value):
                merged = {p: v for p, v in merged.items() if not p.startswith(f"{path}.")}
            merged[path] = value
    return merged


def nest(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a.c": 2}`` -> ``{"a": {"b": 1, "c": 2}}``."""
    nested: dict[str, Any] = {}
    for path, value in settings.items():
        *sections, name = path.split(".")
        level = nested
        for depth, section in enumerate(sections):
            level = level.setdefault(section, {})
            if not isinstance(level, dict):
                raise ConfigError(".".join(sections[:depth + 1]), f"given both whole and as {path}")
        level[name] = value
    return nested


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inverse of :func:`nest`: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def dataclass_from_dict(cls, values: Mapping[str, Any]):
    """Rebuild a (nested) dataclass from :func:`dataclasses.asdict` output (or part of it: missing fields
    take their defaults); a ConfigError names the path of an unknown or invalid field, a value of the wrong
    JSON type included (``"cont": "five"``, ``"model": null``)."""
    if not isinstance(values, Mapping):
        raise ConfigError("", f"expected a JSON object of settings, got {_json_shown(values)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(unknown[0], f"unknown setting; expected one of {', '.join(fields)}")
    kwargs = {}
    for name, value in values.items():
        nested = _DATACLASSES.get(fields[name].type)  # a type's name: annotations here are strings (PEP 563)
        _check_type(name, value, fields[name].type, nested)
        if nested is not None and isinstance(value, Mapping):
            try:
                value = dataclass_from_dict(nested, value)
            except ConfigError as e:
                raise e.within(name) from None
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


_TYPES = {"int": ("an integer", "integers", lambda v: isinstance(v, int) and not isinstance(v, bool)),
          "float": ("a number", "numbers", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
          "str": ("a string", "strings", lambda v: isinstance(v, str)),
          "bool": ("true or false", "booleans", lambda v: isinstance(v, bool)),
          "None": ("null", "nulls", lambda v: v is None)}
"""The JSON types of the configs' annotations: what a value must be in words (one, several) and as a test."""


def _check_type(name: str, value: Any, annotation: str, nested: type | None) -> None:
    """ConfigError naming ``name`` when ``value`` is not of the field's type ``annotation`` (a string such as
    ``"int | None"``, ``"tuple[int, ...]"`` or ``"tuple[int, int, int]"``); a ``nested`` dataclass takes an
    object of settings or itself. Ranges and choices are left to the dataclasses, and annotations of other
    kinds to their own checks."""
    if nested is not None:
        if not isinstance(value, (Mapping, nested)):
            raise ConfigError(name, f"expected an object of settings, got {_json_shown(value)}")
        return
    options = [_json_type(option) for option in annotation.split(" | ")]
    if None in options:
        return
    if not any(fits(value) for _, fits in options):
        raise ConfigError(name, f"expected {' or '.join(described for described, _ in options)}, "
                                f"got {_json_shown(value)}")


def _json_type(annotation: str) -> tuple[str, Any] | None:
    """``(what a value must be, its test)`` for one annotation without ``|``, or None when not a JSON type."""
    if not annotation.startswith("tuple["):
        known = _TYPES.get(annotation)
        return known and (known[0], known[2])
    items = annotation[len("tuple["):-1].split(", ")
    if any(item not in _TYPES for item in items if item != "..."):
        return None
    _, plural, _ = _TYPES[items[0]]
    if items[-1] == "...":
        test = _TYPES[items[0]][2]
        return f"a list of {plural}", lambda v: isinstance(v, (list, tuple)) and all(test(x) for x in v)
    tests = [_TYPES[item][2] for item in items]
    return (f"a list of {len(items)} {plural}",
            lambda v: isinstance(v, (list, tuple)) and len(v) == len(tests) and all(t(x) for t, x in zip(tests, v)))


def _json_shown(value: Any) -> str:
    """``value`` as JSON writes it (``null``, ``"five"``), shortened."""
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


_DATACLASSES = {c.__name__: c for c in (LatentSpec, CapacitySchedule, LossConfig, InvarianceConfig, ModelConfig,
                                        DataConfig, TrainConfig, RunConfig)}
