"""Settings by path: defaults live in the config dataclasses and presets only, errors name the setting,
and the CLI names the flag instead."""

import dataclasses

import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from jointvae_tf.cli.options import flag_of, settings_given
from jointvae_tf.cli.train import train as train_command

from jointvae_tf.core.config import (
    CapacitySchedule,
    DataConfig,
    InvarianceConfig,
    LatentSpec,
    LossConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    overlay,
    plain_settings,
)
from jointvae_tf.data.catalog import DATASETS, HANDWRITING
from jointvae_tf.errors import ConfigError
from jointvae_tf.training.presets import (
    build_run_config,
    dataset_defaults,
    resume_run_config,
)


def test_errors_name_the_setting_by_its_path():
    with pytest.raises(ConfigError, match="^steps_per_execution: expected an integer >= 1, got 0$"):
        TrainConfig(steps_per_execution=0)
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_settings({"train.steps_per_execution": 0})
    assert caught.value.argument == "train.steps_per_execution"
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_settings({"model.latent.disc": (1,)})
    assert caught.value.argument == "model.latent.disc" and "got [1]" in caught.value.problem
    with pytest.raises(ConfigError, match="^train.epoch: unknown setting; expected one of epochs, batch_size"):
        RunConfig.from_settings({"train.epoch": 3})
    with pytest.raises(ConfigError, match="^model.cont_capacity: expected MIN,MAX,ITERS all >= 0"):
        RunConfig.from_settings({"model.cont_capacity.steps": -1})


def test_settings_nest_into_sections_and_unset_fields_keep_their_defaults():
    run = RunConfig.from_settings({"train.epochs": 3, "model.latent.cont": 2,
                                   "model.disc_capacity": CapacitySchedule(0.0, 1.0, 10)})
    assert run.train == TrainConfig(epochs=3)
    assert run.model.latent == LatentSpec(2, (10,)) and run.model.disc_capacity == CapacitySchedule(0.0, 1.0, 10)
    assert run.data == DataConfig()
    assert RunConfig.from_settings(run.settings()) == run
    assert RunConfig.from_dict(run.to_dict()) == run


def test_a_section_given_whole_and_by_field_at_once_is_refused():
    with pytest.raises(ConfigError, match=r"^model.loss: given both whole and as model.loss.gamma$"):
        RunConfig.from_settings({"model.loss": LossConfig(), "model.loss.gamma": 5.0})
    with pytest.raises(ConfigError, match=r"^model: given both whole and as model.loss.gamma$"):
        RunConfig.from_settings({"model": ModelConfig(), "model.loss.gamma": 5.0})


def test_layers_of_settings_merge_field_by_field_and_a_whole_section_replaces_its_fields():
    whole = TrainConfig(epochs=2, seed=3)
    merged = overlay({"train": whole}, {"train.epochs": 5})
    assert RunConfig.from_settings(merged).train == TrainConfig(epochs=5, seed=3)
    rotation = InvarianceConfig(rotation=5.0)
    assert overlay({"model.invariance.outline": 0.3, "train.seed": 1}, {"model.invariance": rotation}) == \
        {"train.seed": 1, "model.invariance": rotation}


def test_plain_settings_split_whole_sections_and_turn_lists_into_tuples():
    plain = plain_settings({"model.latent.disc": [4, 2], "model.cont_capacity": CapacitySchedule(0.0, 1.0, 10)})
    assert plain == {"model.latent.disc": (4, 2), "model.cont_capacity.start": 0.0, "model.cont_capacity.stop": 1.0,
                     "model.cont_capacity.steps": 10}
    assert plain["model.latent.disc"] == RunConfig.from_settings(plain).settings()["model.latent.disc"]


def test_the_loss_scale_default_follows_the_form_given():
    assert RunConfig.from_settings({"model.loss.form": "nll"}).model.loss.scale == 0.1
    assert RunConfig.from_settings({"model.loss.form": "rho"}).model.loss.scale == 1.0
    assert RunConfig.from_settings({"model.loss.form": "rho", "model.loss.scale": 0.3}).model.loss.scale == 0.3


def test_a_preset_changes_only_what_it_names_and_settings_win():
    mnist = build_run_config("mnist")
    assert mnist.train == dataclasses.replace(TrainConfig(), steps=HANDWRITING["train.steps"],
                                              learning_rate=HANDWRITING["train.learning_rate"])
    assert mnist.model.loss == dataclasses.replace(LossConfig(), disc_balance=HANDWRITING["model.loss.disc_balance"])
    assert mnist.data.name == "mnist" and mnist.model.latent == LatentSpec(10, (20,))  # two categories per digit
    shapes = build_run_config("four_shapes", {"train.epochs": 2, "model.latent.disc": (3,)})
    assert shapes.train.epochs == 2 and shapes.model.latent == LatentSpec(5, (3,))
    assert not shapes.train.stop_when_settled  # a length given is trained whole
    assert shapes.model.invariance.weight == 10.0
    assert build_run_config(None).data.name == DataConfig().name


def test_a_field_given_inside_a_section_the_preset_sets_whole_changes_that_field_only():
    shapes = build_run_config("four_shapes", {"model.invariance.outline": 0.3, "model.invariance.weight": 3.0})
    assert shapes.model.invariance == InvarianceConfig(rotation=180.0, weight=3.0, outline=0.3, every=2)
    mnist = build_run_config("mnist", {"model.invariance": InvarianceConfig(rotation=5.0)})
    assert mnist.model.invariance == InvarianceConfig(rotation=5.0)  # a section given whole replaces the preset's


def test_epochs_given_replace_a_presets_length_in_steps_and_steps_given_win():
    assert build_run_config("npz").train.epochs_for(steps_per_epoch=63) == -(-10_000 // 63)
    by_epochs = build_run_config("npz", {"train.epochs": 3}).train
    assert by_epochs.steps is None and by_epochs.epochs_for(63) == 3
    both = build_run_config("npz", {"train.epochs": 3, "train.steps": 100}).train
    assert both.epochs_for(63) == 2  # 100 steps, rounded up to whole epochs of 63
    stored = build_run_config("npz")
    assert resume_run_config(stored, {"train.epochs": 40}).train.epochs_for(63) == 40


def test_the_preset_length_is_a_budget_and_a_length_given_is_trained_whole():
    stored = build_run_config("npz")
    assert stored.train.stop_when_settled  # the run ends once its code has settled
    for given in ({"train.steps": 500}, {"train.epochs": 3}):
        assert not build_run_config("npz", given).train.stop_when_settled
        assert not resume_run_config(stored, given).train.stop_when_settled
    assert resume_run_config(stored, {}).train.stop_when_settled
    assert build_run_config("npz", {"train.steps": 500, "train.stop_when_settled": True}).train.stop_when_settled


def test_every_labelled_family_defaults_to_two_categories_per_class_and_disc_given_wins():
    for dataset in ("mnist", "fashion_mnist", "emnist_letters", "kmnist", "four_shapes"):
        run = build_run_config(dataset)
        assert run.model.latent.disc == (2 * len(run.data.classes),), dataset
    assert build_run_config("mnist", {"data.classes": ("3", "5")}).model.latent.disc == (4,)
    assert build_run_config("mnist", {"model.latent.disc": (10,)}).model.latent.disc == (10,)


def _setting_options():
    return [p for p in train_command.params if "__" in p.name]


def test_cli_setting_flags_are_unset_by_default_and_say_where_their_default_comes_from():
    chosen = set(dataset_defaults("mnist")) - {"data.name", "data.classes"}  # classes: all of the dataset's
    for dataset in DATASETS.values():
        chosen |= set(dataset.preset)
    for option in _setting_options():
        path = option.name.replace("__", ".")
        assert option.default is None, option.name
        per_dataset = any(path == p or path.startswith(p + ".") for p in chosen)
        assert (option.show_default == "per dataset") == per_dataset, path
    assert settings_given({"train__epochs": None, "train__seed": 3, "run_dir": "x"}) == {"train.seed": 3}


def test_the_cli_maps_settings_to_flags_in_its_errors():
    assert flag_of("train.learning_rate") == "--lr"
    assert flag_of("model.cont_capacity.steps") == "--cont-capacity"
    assert flag_of("model.channels") is None
    assert flag_of("model.invariance.outline") == "--invariant-outline"
    result = CliRunner().invoke(main, ["train", "--steps-per-execution", "0"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --steps-per-execution: expected an integer >= 1, got 0"
    result = CliRunner().invoke(main, ["train", "--invariant-outline", "0.6", "--invariant-hatch", "0.6"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --invariant-hatch: expected a probability >= 0 with outline + hatch <= 1, " \
                                    "got 0.6 (outline 0.6)"
    result = CliRunner().invoke(main, ["train", "--dataset", "npz", "--data-dir", "/nowhere"])
    assert result.exit_code == 2 and result.stderr.startswith("Error: --data-dir: '/nowhere/mnist.npz' not found")
