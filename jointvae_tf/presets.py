"""Per-dataset training defaults, and the RunConfig of a dataset with a user's settings on top.

A preset holds only what differs from the config dataclasses' defaults (the original JointVAE's MNIST
recipe), as settings named by their path in :class:`~jointvae_tf.config.RunConfig`. Where each number comes
from: README "Defaults per dataset".
"""

from __future__ import annotations

from typing import Any, Mapping

from jointvae_tf.config import CapacitySchedule, InvarianceConfig, RunConfig
from jointvae_tf.data import dataset_info

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


def dataset_defaults(dataset: str) -> Settings:
    """What the dataset's metadata sets: its name, image size, channels, normalisation, and one categorical
    variable with a category per class."""
    info = dataset_info(dataset)
    return {"data.name": dataset, "model.image_size": info.image_size, "model.channels": info.channels,
            "data.normalize": info.normalization, "model.latent.disc": (info.num_classes,)}


def build_run_config(dataset: str | None = None, settings: Settings | None = None) -> RunConfig:
    """The RunConfig of ``dataset`` (None: ``DataConfig``'s default): the config defaults, then the dataset's
    metadata and preset, then ``settings`` (paths as in ``RunConfig.from_settings``)."""
    dataset = dataset or RunConfig().data.name
    return RunConfig.from_settings({**dataset_defaults(dataset), **preset_for(dataset), **(settings or {})})
