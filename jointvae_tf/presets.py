"""The RunConfig of a dataset with a user's settings on top, and of a resumed run.

Three layers, later ones winning: the config dataclasses' defaults (the original JointVAE's MNIST recipe),
the dataset's metadata and preset (its entry in ``jointvae_tf.data.catalog``, holding only what differs),
and the user's settings, named by their path in :class:`~jointvae_tf.config.RunConfig`.
"""

from __future__ import annotations

from typing import Any, Mapping

from jointvae_tf.config import RESUMABLE, RunConfig, plain_settings
from jointvae_tf.data import class_names, get_dataset
from jointvae_tf.errors import ConfigError

Settings = Mapping[str, Any]
"""Settings by path, e.g. ``{"train.epochs": 5, "model.latent.disc": (4,)}`` (see ``RunConfig.from_settings``)."""



def dataset_defaults(dataset: str, data_dir: str | None = None) -> Settings:
    """What the dataset sets: its name, image size, channels, normalisation, and one categorical variable with
    a category per class (for ``image_folder``, per class folder found in ``data_dir``)."""
    info = get_dataset(dataset).info
    return {"data.name": dataset, "model.image_size": info.image_size, "model.channels": info.channels,
            "data.normalize": info.normalization, "model.latent.disc": (len(class_names(dataset, data_dir)),)}


def length_settings(settings: Settings) -> Settings:
    """``settings`` where an ``epochs`` given without ``steps`` also clears ``steps``, so the length given
    wins over a preset's length in steps."""
    if "train.epochs" in settings and "train.steps" not in settings:
        return {**settings, "train.steps": None}
    return settings


def build_run_config(dataset: str | None = None, settings: Settings | None = None) -> RunConfig:
    """The RunConfig of ``dataset`` (None: ``DataConfig``'s default): the config defaults, then the dataset's
    metadata and preset, then ``settings`` (paths as in ``RunConfig.from_settings``)."""
    settings = length_settings(settings or {})
    dataset = dataset or RunConfig().data.name
    defaults = dataset_defaults(dataset, settings.get("data.data_dir"))
    return RunConfig.from_settings({**defaults, **get_dataset(dataset).preset, **settings})


def resume_run_config(stored: RunConfig, settings: Settings | None = None) -> RunConfig:
    """The RunConfig that continues a run trained with ``stored``: the same, but for the settings that may
    change on resume (:data:`RESUMABLE`) given in ``settings``. Any other setting given must equal the stored
    one (ConfigError naming it otherwise), so nothing given is silently dropped."""
    settings = length_settings(settings or {})
    stored_values = stored.settings()
    for path, value in plain_settings(settings).items():
        if path not in RESUMABLE and stored_values.get(path) != value:
            raise ConfigError(path, f"the run was trained with {stored_values.get(path)!r}, not {value!r}; a resumed "
                                    f"run keeps the settings of its config.json but for its length and devices")
    return RunConfig.from_settings({**stored_values, **{p: v for p, v in settings.items() if p in RESUMABLE}})
