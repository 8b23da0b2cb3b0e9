"""Per-dataset training defaults, and the RunConfig of a dataset with a user's settings on top.

A preset holds only what differs from the config dataclasses' defaults (the original JointVAE's MNIST
recipe), as settings named by their path in :class:`~jointvae_tf.config.RunConfig`. Where each number comes
from: README "Defaults per dataset".
"""

from __future__ import annotations

from typing import Any, Mapping

from jointvae_tf.config import RESUMABLE, CapacitySchedule, InvarianceConfig, RunConfig, plain_settings
from jointvae_tf.data import class_names, dataset_info
from jointvae_tf.errors import ConfigError

Settings = Mapping[str, Any]
"""Settings by path, e.g. ``{"train.epochs": 5, "model.latent.disc": (4,)}`` (see ``RunConfig.from_settings``)."""

HANDWRITING: Settings = {}
FASHION: Settings = {
    "model.cont_capacity": CapacitySchedule(0.0, 5.0, 50_000),
    "model.disc_capacity": CapacitySchedule(0.0, 10.0, 50_000),
    "model.loss.gamma": 100.0,
}
DSPRITES: Settings = {
    "model.latent.cont": 6, "model.latent.disc": (3,),
    "model.cont_capacity": CapacitySchedule(0.0, 40.0, 300_000),
    "model.disc_capacity": CapacitySchedule(0.0, 1.1, 300_000),
    "model.loss.gamma": 150.0,
    "train.epochs": 30,
}
FOUR_SHAPES: Settings = {
    "model.latent.cont": 5, "model.latent.disc": (8,),
    "model.cont_capacity": CapacitySchedule(0.0, 3.0, 6_000),
    "model.disc_capacity": CapacitySchedule(0.0, 2.1, 2_000),
    "model.loss.gamma": 30.0, "model.loss.disc_balance": 30.0,
    "model.invariance": InvarianceConfig(rotation=180.0, weight=10.0),
    "train.epochs": 30,
}

PRESETS: dict[str, Settings] = {"fashion_mnist": FASHION, "dsprites": DSPRITES, "four_shapes": FOUR_SHAPES}


def preset_for(dataset: str) -> Settings:
    """The settings ``dataset`` changes (the handwriting recipe, i.e. none, for names without their own)."""
    return PRESETS.get(dataset, HANDWRITING)


def dataset_defaults(dataset: str, data_dir: str | None = None) -> Settings:
    """What the dataset sets: its name, image size, channels, normalisation, and one categorical variable with
    a category per class (for ``image_folder``, per class folder found in ``data_dir``)."""
    info = dataset_info(dataset)
    return {"data.name": dataset, "model.image_size": info.image_size, "model.channels": info.channels,
            "data.normalize": info.normalization, "model.latent.disc": (len(class_names(dataset, data_dir)),)}


def build_run_config(dataset: str | None = None, settings: Settings | None = None) -> RunConfig:
    """The RunConfig of ``dataset`` (None: ``DataConfig``'s default): the config defaults, then the dataset's
    metadata and preset, then ``settings`` (paths as in ``RunConfig.from_settings``)."""
    settings = settings or {}
    dataset = dataset or RunConfig().data.name
    defaults = dataset_defaults(dataset, settings.get("data.data_dir"))
    return RunConfig.from_settings({**defaults, **preset_for(dataset), **settings})


def resume_run_config(stored: RunConfig, settings: Settings | None = None) -> RunConfig:
    """The RunConfig that continues a run trained with ``stored``: the same, but for the settings that may
    change on resume (:data:`RESUMABLE`) given in ``settings``. Any other setting given must equal the stored
    one (ConfigError naming it otherwise), so nothing given is silently dropped."""
    stored_values = stored.settings()
    for path, value in plain_settings(settings or {}).items():
        if path not in RESUMABLE and stored_values.get(path) != value:
            raise ConfigError(path, f"the run was trained with {stored_values.get(path)!r}, not {value!r}; a resumed "
                                    f"run keeps the settings of its config.json but for the epochs and devices")
    return RunConfig.from_settings({**stored_values, **{p: v for p, v in (settings or {}).items() if p in RESUMABLE}})
