"""The configs: each bound accepted at its edge and refused just past it, naming the setting; JSON round trips."""

import json
import math

import pytest

from jointvae_tf.core.config import (
    CapacitySchedule,
    DataConfig,
    InvarianceConfig,
    LatentSpec,
    LossConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from jointvae_tf.errors import ConfigError, JointVAEError


def test_latent_spec_sizes():
    spec = LatentSpec(3, [10, 2])
    assert spec.disc == (10, 2) and spec.disc_size == 12 and spec.size == 15
    assert spec.max_disc_capacity == pytest.approx(math.log(10) + math.log(2))
    assert LatentSpec(4, ()).max_disc_capacity == 0.0 and LatentSpec(4, ()).size == 4
    assert LatentSpec(0, (2,)).size == 2


@pytest.mark.parametrize("cont,disc,match", [
    (-1, (10,), "^cont: expected an integer >= 0, got -1$"),
    (2.5, (10,), "^cont: expected an integer >= 0, got 2.5$"),
    (2, (10, 1), r"^disc: every category count must be >= 2, got \[10, 1\]$"),
    (0, (), "^disc: cannot be empty when cont is 0"),
])
def test_latent_spec_refuses(cont, disc, match):
    with pytest.raises(ConfigError, match=match):
        LatentSpec(cont, disc)


def test_capacity_edges_and_parsing():
    assert CapacitySchedule(0.0, 0.0, 0) == CapacitySchedule(0, 0, 0)
    for values in ((-0.1, 5, 10), (0, -0.1, 10), (0, 5, -1)):
        with pytest.raises(ConfigError, match=r"^expected MIN,MAX,ITERS all >= 0, got "):
            CapacitySchedule(*values)
    assert CapacitySchedule.parse("0.5,5,2.5e4") == CapacitySchedule(0.5, 5.0, 25000)
    assert CapacitySchedule.parse("0,25,100000") == CapacitySchedule(0.0, 25.0, 100_000)
    for text in ("0,5", "0,5,10,1", "a,5,10", "", "0,5,x"):
        with pytest.raises(ConfigError, match=f"^expected MIN,MAX,ITERS such as 0,5,25000, got '{text}'$"):
            CapacitySchedule.parse(text)


@pytest.mark.parametrize("config,values,match", [
    (LossConfig, {"disc_balance": -0.01}, "^disc_balance: expected a weight >= 0, got -0.01$"),
    (LossConfig, {"kind": "huber"}, "^kind: expected one of bce, mse, cauchy, general, got 'huber'$"),
    (LossConfig, {"form": "log"}, "^form: expected rho or nll, got 'log'$"),
    (LossConfig, {"scale": 0.0}, "^scale: expected a scale c > 0, got 0.0$"),
    (LossConfig, {"gamma": -0.01}, "^gamma: expected gamma >= 0, got -0.01$"),
    (InvarianceConfig, {"rotation": -0.1}, r"^rotation: expected degrees in \[0, 180\], got -0.1$"),
    (InvarianceConfig, {"rotation": 180.1}, r"^rotation: expected degrees in \[0, 180\], got 180.1$"),
    (InvarianceConfig, {"weight": -0.01}, "^weight: expected a weight >= 0, got -0.01$"),
    (InvarianceConfig, {"scale": 1.0}, r"^scale: expected a fraction in \[0, 1\), got 1.0$"),
    (InvarianceConfig, {"shift": -1.0}, "^shift: expected pixels >= 0, got -1.0$"),
    (InvarianceConfig, {"thickness": 1.5}, r"^thickness: expected a fraction of a pixel in \[0, 1\], got 1.5$"),
    (InvarianceConfig, {"outline": 1.2}, r"^outline: expected a probability in \[0, 1\], got 1.2$"),
    (InvarianceConfig, {"outline": 0.6, "hatch": 0.5},
     r"^hatch: expected a probability >= 0 with outline \+ hatch <= 1, got 0.5 \(outline 0.6\)$"),
    (InvarianceConfig, {"hatch": -0.1}, r"^hatch: expected a probability >= 0 with outline \+ hatch <= 1, got -0.1"),
    (InvarianceConfig, {"contrast": 1.0}, r"^contrast: expected a fraction in \[0, 1\), got 1.0$"),
    (InvarianceConfig, {"noise": -0.01}, r"^noise: expected a standard deviation in \[0, 1\], got -0.01$"),
    (InvarianceConfig, {"noise": 1.5}, r"^noise: expected a standard deviation in \[0, 1\], got 1.5$"),
    (InvarianceConfig, {"objective": "iic"}, "^objective: expected one of agreement, mutual_information, got 'iic'$"),
    (ModelConfig, {"image_size": 28}, r"^image_size: expected one of \(32, 64\) pixels, got 28$"),
    (ModelConfig, {"channels": 2}, "^channels: expected 1 or 3, got 2$"),
    (ModelConfig, {"temperature": 0.0}, "^temperature: expected > 0, got 0.0$"),
    (DataConfig, {"normalize": "zca"}, "^normalize: expected one of none, box, moments, affine, silhouette, got 'zca'$"),
    (DataConfig, {"validation_fraction": 0.0}, r"^validation_fraction: expected a fraction in \(0, 0.5\), got 0.0$"),
    (DataConfig, {"validation_fraction": 0.5}, r"^validation_fraction: expected a fraction in \(0, 0.5\), got 0.5$"),
    (DataConfig, {"max_examples": 0}, "^max_examples: expected an integer >= 1, got 0$"),
    (TrainConfig, {"epochs": 0}, "^epochs: expected an integer >= 1, got 0$"),
    (TrainConfig, {"batch_size": 0}, "^batch_size: expected an integer >= 1, got 0$"),
    (TrainConfig, {"steps_per_execution": 0}, "^steps_per_execution: expected an integer >= 1, got 0$"),
    (TrainConfig, {"steps": 0}, "^steps: expected an integer >= 1, got 0$"),
    (TrainConfig, {"checkpoint_every": 0}, "^checkpoint_every: expected an integer >= 1, got 0$"),
    (TrainConfig, {"learning_rate": 0.0}, "^learning_rate: expected > 0, got 0.0$"),
    (TrainConfig, {"settle_patience": 0}, r"^settle_patience: expected an integer >= 1, got 0$"),
    (TrainConfig, {"settle_loss_gain": 1.0}, r"^settle_loss_gain: expected a fraction in \[0, 1\), got 1.0$"),
    (TrainConfig, {"settle_loss_gain": -0.01}, r"^settle_loss_gain: expected a fraction in \[0, 1\), got -0.01$"),
    (TrainConfig, {"precision": "float16"}, "^precision: expected one of float32, mixed_bfloat16, mixed_float16, got"),
    (TrainConfig, {"distribute": "tpu"}, "^distribute: expected one of none, mirrored, multiworker, got 'tpu'$"),
])
def test_each_bad_value_names_its_setting(config, values, match):
    with pytest.raises(ConfigError, match=match):
        config(**values)


def test_edges_that_are_allowed():
    LossConfig(disc_balance=0.0, gamma=0.0, scale=1e-6, kind="general", form="rho")
    DataConfig(validation_fraction=0.49, max_examples=1)
    TrainConfig(settle_loss_gain=0.0)
    assert InvarianceConfig(180.0, 1.0).active and InvarianceConfig(0.0, 0.0) == InvarianceConfig()
    assert not InvarianceConfig(0.0, 5.0).active and not InvarianceConfig(90.0, 0.0).active
    InvarianceConfig(outline=1.0, noise=1.0)
    InvarianceConfig(outline=0.25, hatch=0.75)
    assert DataConfig(classes=["7", "3"]).classes == ("7", "3")  # a list from Python or JSON is kept as a tuple
    ModelConfig(image_size=64, channels=3, temperature=1e-3)
    TrainConfig(epochs=1, batch_size=1, steps_per_execution=1, checkpoint_every=1, learning_rate=1e-9,
                precision="mixed_float16", distribute="multiworker", steps=1)
    assert ModelConfig(image_size=64, channels=3).image_shape == (64, 64, 3)


def test_run_config_json_round_trip_keeps_every_value(tmp_path):
    run = RunConfig(model=ModelConfig(image_size=64, channels=3, latent=LatentSpec(4, (10, 2)),
                                      cont_capacity=CapacitySchedule(0.5, 25.0, 100_000),
                                      disc_capacity=CapacitySchedule(1.0, 2.0, 7),
                                      loss=LossConfig("general", 0.2, 0.5, "rho", 10.0, 2.0),
                                      invariance=InvarianceConfig(90.0, 3.0), temperature=0.5, hidden_units=64),
                    data=DataConfig("az_letters", "/data/az.csv", "box", 0.2, 1000),
                    train=TrainConfig(3, 16, 1e-3, 7, True, 5, 50, 100, "mixed_bfloat16", "mirrored"))
    path = str(tmp_path / "config.json")
    run.save(path)
    assert RunConfig.load(path) == run
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left behind
    text = open(path).read()
    assert '\n  "train": {\n    "epochs": 3,\n' in text  # one setting per line, indented by 2: people read it
    stored = json.loads(text)
    assert stored["model"]["latent"] == {"cont": 4, "disc": [10, 2]} and stored["train"]["seed"] == 7
    assert RunConfig.from_dict({}) == RunConfig()  # every field has a default


def test_unknown_keys_and_bad_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"^model.latent.size: unknown setting; expected one of cont, disc$"):
        RunConfig.from_dict({"model": {"latent": {"cont": 2, "size": 3}}})
    with pytest.raises(ConfigError, match=r"^extra: unknown setting; expected one of model, data, train$"):
        RunConfig.from_dict({"extra": 1})
    (tmp_path / "bad.json").write_text(json.dumps({"train": {"epochs": 0}}))
    with pytest.raises(JointVAEError, match=r"bad.json: train.epochs: expected an integer >= 1, got 0$"):
        RunConfig.load(str(tmp_path / "bad.json"))
    with pytest.raises(JointVAEError, match="nowhere.json: no config.json here"):
        RunConfig.load(str(tmp_path / "nowhere.json"))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(JointVAEError, match="config.json: not valid JSON"):
        RunConfig.load(str(tmp_path / "config.json"))
