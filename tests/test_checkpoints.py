"""Checkpoints restore every variable by name, whatever order the variables were created in."""

import keras
import numpy as np
import tensorflow as tf

from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig
from jointvae_tf.run_folders.checkpoints import Checkpointer
from jointvae_tf.training.trainer import build_model


class TwoLayers(keras.Model):
    """Dense layers ``a`` and ``b`` of the same shape, created (and tracked) in the order ``names``."""

    def __init__(self, names, **kwargs):
        super().__init__(**kwargs)
        for name in names:
            layer = keras.layers.Dense(3, name=name)
            layer.build((None, 3))
            setattr(self, name, layer)

    def call(self, x):
        return self.a(x) + 2 * self.b(x)


def _compiled(names):
    model = TwoLayers(names)
    model.compile(optimizer=keras.optimizers.Adam())
    model.optimizer.build(model.trainable_variables)
    return model


def _by_name(variables):
    return {v.name: v.numpy() for v in variables}


def test_same_shaped_variables_created_in_another_order_load_by_name(tmp_path):
    saved = _compiled(["a", "b"])
    rng = np.random.default_rng(0)
    for variable in saved.variables + saved.optimizer.variables:
        if variable.dtype.startswith("float"):
            variable.assign(rng.standard_normal(variable.shape).astype("float32"))
    saved.optimizer.iterations.assign(7)
    Checkpointer(str(tmp_path), saved).save(7)

    loaded = _compiled(["b", "a"])
    assert [v.path for v in loaded.variables] != [v.path for v in saved.variables]  # another order
    assert Checkpointer(str(tmp_path), loaded).restore_latest() == 7
    for layer in ("a", "b"):
        np.testing.assert_array_equal(getattr(loaded, layer).kernel.numpy(), getattr(saved, layer).kernel.numpy())
        np.testing.assert_array_equal(getattr(loaded, layer).bias.numpy(), getattr(saved, layer).bias.numpy())
    assert _by_name(loaded.optimizer.variables).keys() == _by_name(saved.optimizer.variables).keys()
    for name, value in _by_name(saved.optimizer.variables).items():  # e.g. a_kernel_momentum
        np.testing.assert_array_equal(_by_name(loaded.optimizer.variables)[name], value, err_msg=name)


def test_a_checkpoint_written_by_position_still_loads(tmp_path):
    run = RunConfig(model=ModelConfig(image_size=32, channels=1, latent=LatentSpec(3, (4,)), hidden_units=32))
    model = build_model(run)
    for variable in model.trainable_variables:
        variable.assign(tf.random.normal(variable.shape, seed=1) * 0.1)
    model.optimizer.iterations.assign(12)
    # The format of run folders written before checkpoints named variables (and before the step was the model's).
    older = [v for v in model.variables if v is not model.training_step]
    positions = {f"model/{i:04d}": v.numpy() for i, v in enumerate(older)}
    positions.update({f"optimizer/{i:04d}": v.numpy() for i, v in enumerate(model.optimizer.variables)})
    with open(tmp_path / "ckpt-000000012.npz", "wb") as f:
        np.savez(f, **positions)

    restored = build_model(run)
    assert Checkpointer(str(tmp_path), restored).restore_latest() == 12
    assert int(restored.optimizer.iterations.numpy()) == 12
    assert int(restored.training_step.numpy()) == 12
    latent = tf.random.normal([5, 3 + 4])
    np.testing.assert_array_equal(restored.decode(latent), model.decode(latent))


def test_the_training_step_is_saved_and_older_checkpoints_take_it_from_their_step(tmp_path):
    run = RunConfig(model=ModelConfig(image_size=32, channels=1, latent=LatentSpec(3, (4,)), hidden_units=32))
    model = build_model(run)
    model.training_step.assign(30)
    model.optimizer.iterations.assign(5)  # a new optimizer after 30 steps: the schedule follows the model
    path = Checkpointer(str(tmp_path / "new"), model).save(30)
    restored = build_model(run)
    Checkpointer(str(tmp_path / "new"), restored).restore_latest()
    assert int(restored.training_step.numpy()) == 30 and int(restored.optimizer.iterations.numpy()) == 5

    with np.load(path) as stored:  # as written before the model kept its step
        older = {name: stored[name] for name in stored.files if name != "model/training_step"}
    (tmp_path / "old").mkdir()
    with open(tmp_path / "old" / "ckpt-000000030.npz", "wb") as f:
        np.savez(f, **older)
    restored = build_model(run)
    assert Checkpointer(str(tmp_path / "old"), restored).restore_latest() == 30
    assert int(restored.training_step.numpy()) == 30
