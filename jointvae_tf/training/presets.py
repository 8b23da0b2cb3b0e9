"""The RunConfig of a dataset with a user's settings on top, and of a resumed run.

Three layers, later ones winning: the config dataclasses' defaults (the original JointVAE's MNIST recipe),
the dataset's metadata and preset (its entry in ``jointvae_tf.data.catalog``, holding only what differs),
and the user's settings, named by their path in :class:`~jointvae_tf.core.config.RunConfig`.
"""

from __future__ import annotations

from typing import Any, Mapping

from jointvae_tf.core.config import (
    RESUMABLE,
    DataConfig,
    RunConfig,
    overlay,
    plain_settings,
)
from jointvae_tf.data import get_dataset, resolve_classes
from jointvae_tf.data.loading import choose_classes
from jointvae_tf.errors import ConfigError

Settings = Mapping[str, Any]
"""Settings by path, e.g. ``{"train.epochs": 5, "model.latent.disc": (4,)}`` (see ``RunConfig.from_settings``)."""


CATEGORIES_PER_CLASS = 2
"""Categories of the default discrete code per class: the study this project follows found its best
results with twice as many categories as classes (every class then owns at least one); such a code is
scored by majority mapping (``metrics.cluster_accuracy``). ``model.latent.disc`` = the class count keeps
one category per class and the one-to-one score."""


def dataset_defaults(dataset: str, data_dir: str | None = None, classes: tuple[str, ...] = ()) -> Settings:
    """What the dataset sets: its name, image size, channels, normalisation, the classes read (``classes``, or
    all, for folder datasets all class folders found in ``data_dir``) and one categorical variable with
    :data:`CATEGORIES_PER_CLASS` categories per class read (none for a single class)."""
    info = get_dataset(dataset).info
    chosen = resolve_classes(DataConfig(name=dataset, data_dir=data_dir, classes=classes))
    return {"data.name": dataset, "model.image_size": info.image_size, "model.channels": info.channels,
            "data.normalize": info.normalization, "data.classes": chosen,
            "model.latent.disc": (CATEGORIES_PER_CLASS * len(chosen),) if len(chosen) > 1 else ()}


def length_settings(settings: Settings) -> Settings:
    """``settings`` where a length given is the run's length: ``epochs`` given without ``steps`` also clears
    ``steps``, so it wins over a preset's length in steps, and either turns off ``stop_when_settled`` (unless
    given too), so the run trains that long."""
    settings = dict(settings)
    if "train.epochs" in settings and "train.steps" not in settings:
        settings["train.steps"] = None
    if ("train.epochs" in settings or "train.steps" in settings) and "train.stop_when_settled" not in settings:
        settings["train.stop_when_settled"] = False
    return settings


def build_run_config(dataset: str | None = None, settings: Settings | None = None) -> RunConfig:
    """The RunConfig of ``dataset`` (None: ``DataConfig``'s default): the config defaults, then the dataset's
    metadata and preset, then ``settings`` (paths as in ``RunConfig.from_settings``). With ``data.classes``
    given, the discrete code defaults to :data:`CATEGORIES_PER_CLASS` categories per class chosen."""
    settings = length_settings(settings or {})
    dataset = dataset or RunConfig().data.name
    defaults = dataset_defaults(dataset, settings.get("data.data_dir"), tuple(settings.get("data.classes", ())))
    # Chosen classes size the discrete code whatever the preset's count (set for all of the dataset's classes).
    chosen = {"model.latent.disc": defaults["model.latent.disc"]} if "data.classes" in settings else {}
    return RunConfig.from_settings(overlay(defaults, get_dataset(dataset).preset, chosen, settings,
                                           {"data.classes": defaults["data.classes"]}))


def resume_run_config(stored: RunConfig, settings: Settings | None = None) -> RunConfig:
    """The RunConfig that continues a run trained with ``stored``: the same, but for the settings that may
    change on resume (:data:`RESUMABLE`) given in ``settings``. Any other setting given must equal the stored
    one (ConfigError naming it otherwise), so nothing given is silently dropped."""
    settings = length_settings(settings or {})
    stored_values = stored.settings()
    settings = dict(settings)
    if "data.classes" in settings:  # the same classes in any order
        try:
            settings["data.classes"] = choose_classes(stored.data.classes, tuple(settings["data.classes"]))
        except ConfigError as error:
            raise error.within("data") from None
    for path, value in plain_settings(settings).items():
        if path not in RESUMABLE and stored_values.get(path) != value:
            raise ConfigError(path, f"the run was trained with {stored_values.get(path)!r}, not {value!r}; a resumed "
                                    f"run keeps the settings of its config.json but for its length and devices")
    return RunConfig.from_settings({**stored_values, **{p: v for p, v in settings.items() if p in RESUMABLE}})
