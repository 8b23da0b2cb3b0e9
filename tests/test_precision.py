"""Mixed precision: the policy is set before the model is built, float16 gets loss scaling, and the
latent parameters, KL terms and loss stay float32 whatever the policy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig, TrainConfig
from jointvae_tf.core.precision import set_precision
from jointvae_tf.errors import JointVAEError
from jointvae_tf.training.trainer import build_model

TINY = ModelConfig(latent=LatentSpec(3, (4,)), hidden_units=32)


@pytest.fixture(autouse=True)
def _float32_afterwards():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def _model(precision):
    return build_model(RunConfig(model=TINY, train=TrainConfig(precision=precision)))


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(JointVAEError, match="^precision: expected one of float32"):
        set_precision("float8")
    with pytest.raises(JointVAEError, match="^precision: expected one of float32"):
        TrainConfig(precision="half")


def test_float32_keeps_the_plain_optimizer():
    model = _model("float32")
    assert model.encoder.get_layer("conv0").compute_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.Adam)


def test_mixed_float16_computes_in_float16_with_loss_scaling():
    model = _model("mixed_float16")
    assert model.encoder.get_layer("conv0").compute_dtype == "float16"
    assert model.encoder.get_layer("conv0").variable_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_latents_kl_and_loss_stay_float32(precision):
    model = _model(precision)
    images = tf.constant(np.random.default_rng(0).random((8, 32, 32, 1)), tf.float32)
    encoding = model.encode(images)
    assert encoding.mean.dtype == encoding.log_var.dtype == encoding.logits[0].dtype == tf.float32
    terms = model.compute_terms(images, training=True)
    assert all(value.dtype == tf.float32 for value in terms.values())
    assert np.isfinite(terms["loss"].numpy())


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_training_step_matches_float32_roughly(precision):
    images = np.random.default_rng(0).random((32, 32, 32, 1)).astype("float32")
    losses = {}
    for policy in ("float32", precision):
        keras.utils.set_random_seed(0)
        model = _model(policy)
        losses[policy] = model.fit(images, batch_size=16, epochs=1, verbose=0).history["loss"][-1]
    assert losses[precision] == pytest.approx(losses["float32"], rel=0.02)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_an_export_of_a_mixed_model_answers_in_float32_as_the_model_encodes(precision, tmp_path):
    from jointvae_tf.serving.export import build_archive

    model = _model(precision)
    build_archive(model, traverse_steps=3).write_out(str(tmp_path / "export"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    images = np.random.default_rng(0).random((2, 32, 32, 1)).astype(np.float32)
    encoded = loaded.signatures["encode"](images=tf.constant(images))
    assert encoded["z_mean"].dtype == encoded["z_log_var"].dtype == encoded["probabilities"].dtype == tf.float32
    # Same function, but the export's graph may order 16-bit arithmetic differently from eager calls (CPUs with
    # AVX512-FP16 run oneDNN's float16 kernels): equal to 16-bit precision, not bit for bit.
    np.testing.assert_allclose(encoded["z_mean"], model.encode(images).mean, rtol=1e-2, atol=1e-4)
