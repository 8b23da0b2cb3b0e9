"""The Python API a Keras user meets: imports, fit on arrays and (x, y) datasets, input checks, sample,
traverse, and `.keras` files that `keras.models.load_model` reads without custom_objects."""

import subprocess
import sys
from importlib import metadata

import keras
import numpy as np
import pytest
import tensorflow as tf

import jointvae_tf
from jointvae_tf import JointVAE, JointVAEError, LatentSpec, ModelConfig, compose
from jointvae_tf.core import sampling
from jointvae_tf.core.config import CapacitySchedule
from jointvae_tf.core.latents import prior_quantiles

SPEC = LatentSpec(3, (4,))


def _pixels(n, size=32, channels=1, seed=0):
    """uint8 images: bright squares at random places on black, as the shape datasets look."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, channels), np.uint8)
    for i in range(n):
        x, y = rng.integers(0, size - 8, 2)
        images[i, y:y + 8, x:x + 8] = 255
    return images


@pytest.fixture(scope="module")
def model():
    model = JointVAE(ModelConfig(latent=SPEC), seed=1)
    model.compile()
    model.fit(_pixels(64), epochs=1, batch_size=16, verbose=0)
    return model


def test_version_comes_from_the_package_metadata():
    assert jointvae_tf.__version__ == metadata.version("jointvae-tf")
    assert {"JointVAE", "ModelConfig", "LatentSpec", "train", "JointVAEError"} <= set(jointvae_tf.__all__)


def test_fit_on_arrays_and_on_labelled_datasets_trains(model):
    assert int(model.optimizer.iterations.numpy()) == 4
    labelled = tf.data.Dataset.from_tensor_slices((_pixels(32, seed=1), np.arange(32))).batch(16)
    history = model.fit(labelled, epochs=1, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations.numpy()) == 6 and np.isfinite(history.history["loss"][0])
    assert np.isfinite(model.evaluate(labelled, verbose=0, return_dict=True)["reconstruction"])


def test_sample_weights_are_refused_not_ignored(model):
    images = _pixels(16)
    weighted = tf.data.Dataset.from_tensor_slices((images, np.zeros(16), np.ones(16, np.float32))).batch(8)
    for use in (lambda: model.fit(weighted, epochs=1, verbose=0), lambda: model.evaluate(weighted, verbose=0),
                lambda: model.fit(images, sample_weight=np.ones(16), epochs=1, verbose=0)):
        with pytest.raises(JointVAEError, match=r"^sample_weight: .*weighs every image alike"):
            use()


def test_uint8_pixels_are_scaled(model):
    pixels = _pixels(4)
    scaled = model.encode(pixels.astype(np.float32) / 255.0)
    encoded = model.encode(pixels)
    np.testing.assert_allclose(encoded.mean, scaled.mean, atol=1e-6)
    np.testing.assert_allclose(model.predict(pixels, verbose=0), model(pixels / 255.0), atol=1e-6)


@pytest.mark.parametrize("images,expected", [
    (_pixels(4).astype(np.float32), r"\[0, 1\].*from 0 to 255"),
    (_pixels(4, size=28), r"\[batch, 32, 32, 1\].*\[4, 28, 28, 1\]"),
    (_pixels(4, channels=3), r"\[batch, 32, 32, 1\]"),
    (_pixels(4).astype(np.int32), r"uint8 or float"),
])
def test_bad_images_are_named_with_the_expected_shape(model, images, expected):
    for use in (model.encode, lambda x: model.fit(x, epochs=1, verbose=0), lambda x: model.predict(x, verbose=0)):
        with pytest.raises(JointVAEError, match=expected):
            use(images)


@pytest.mark.parametrize("images,got", [(_pixels(8).astype(np.float32), r"got a batch of shape \[4, 32, 32, 1\]"),
                                        (_pixels(8, size=28), r"got \[None, 28, 28, 1\]")])
def test_bad_batches_of_a_dataset_stop_fit_with_the_expected_shape(model, images, got):
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(8))).batch(4)
    with pytest.raises(JointVAEError, match=r"\[batch, 32, 32, 1\].*" + got):
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)


def test_batches_of_unknown_shape_are_checked_when_they_arrive(model):
    images = _pixels(8, size=28)
    unknown = tf.data.Dataset.from_generator(lambda: (images[i:i + 4] for i in (0, 4)),
                                             output_signature=tf.TensorSpec([None, None, None, 1], tf.uint8))
    with pytest.raises(JointVAEError, match=r"\[batch, 32, 32, 1\].*got a batch of shape \[4, 28, 28, 1\]"):
        model.fit(unknown, epochs=1, verbose=0, shuffle=False)


def test_compile_rejects_a_loss():
    with pytest.raises(JointVAEError, match="compile.*loss"):
        JointVAE(ModelConfig(latent=SPEC)).compile(loss="mse")


def test_sample_matches_the_exported_sampler_and_fixes_the_category(model):
    images = model.sample(3, category=2, seed=5)
    assert images.shape == (3, 32, 32, 1) and images.dtype == np.float32
    seeds, categories = tf.constant([5, 6, 7], tf.int64), tf.constant([[2]] * 3, tf.int32)
    expected = {name: value.numpy() for name, value in sampling.sample(model.decode, SPEC, seeds, categories).items()}
    np.testing.assert_array_equal(images, expected["images"])
    assert (expected["categories"][:, 0] == 2).all()
    # A row depends on its own seed only: the same image in a batch of 1 (up to float rounding of batched kernels).
    np.testing.assert_allclose(model.sample(1, category=2, seed=7)[0], images[2], atol=1e-6)
    with pytest.raises(JointVAEError, match="category"):
        model.sample(1, category=4)


def test_traverse_sweeps_one_dim_over_prior_quantiles(model):
    images = model.traverse(1, category=3, steps=5)
    z = np.zeros((5, 3), np.float32)
    z[:, 1] = prior_quantiles(5)
    expected = model.decode(compose(SPEC, z, np.full((5, 1), 3)))
    np.testing.assert_allclose(images, expected, atol=1e-6)
    with pytest.raises(JointVAEError, match="dim"):
        model.traverse(3)


def _codes(model, images):
    encoding = model.encode(images)
    latent = compose(SPEC, np.linspace(-1, 1, 12).reshape(4, 3), [[0], [1], [2], [3]])
    return np.concatenate([encoding.mean, encoding.log_var, *encoding.logits], axis=1), model.decode(latent).numpy()


def test_keras_file_round_trip_in_this_process(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, JointVAE) and loaded.config == model.config
    for a, b in zip(_codes(loaded, _pixels(6, seed=3)), _codes(model, _pixels(6, seed=3))):
        np.testing.assert_array_equal(a, b)
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())


@pytest.mark.slow
def test_keras_file_loads_in_a_fresh_process_after_importing_the_package(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(str(path))
    np.save(tmp_path / "images.npy", _pixels(6, seed=3))
    script = (f"import keras, numpy as np, jointvae_tf, sys; sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r})\n"
              "from test_api import _codes\n"
              f"model = keras.models.load_model({str(path)!r})\n"
              f"codes, images = _codes(model, np.load({str(tmp_path / 'images.npy')!r}))\n"
              f"np.save({str(tmp_path / 'codes.npy')!r}, codes); np.save({str(tmp_path / 'decoded.npy')!r}, images)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    codes, images = _codes(model, _pixels(6, seed=3))
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), codes)
    np.testing.assert_array_equal(np.load(tmp_path / "decoded.npy"), images)


def _schedule_model(seed=1):
    """A compiled model whose continuous capacity rises 0 -> 10 nats over 100 steps."""
    model = JointVAE(ModelConfig(latent=SPEC, cont_capacity=CapacitySchedule(0.0, 10.0, 100)), seed=seed)
    model.compile()
    return model


def _capacity(model):
    return float(model.compute_terms(_pixels(4).astype(np.float32) / 255.0, training=False)["cont_capacity"])


def test_the_capacity_schedule_counts_the_models_steps_across_a_new_optimizer():
    model = _schedule_model()
    model.fit(_pixels(64), epochs=1, batch_size=16, verbose=0)
    assert int(model.training_step.numpy()) == 4 and _capacity(model) == pytest.approx(0.4)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))  # fine-tuning: a fresh optimizer at iteration 0
    history = model.fit(_pixels(32), epochs=1, batch_size=16, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2 and int(model.training_step.numpy()) == 6
    assert history.history["cont_capacity"][0] == pytest.approx(0.45)  # the mean over steps 4 and 5
    assert _capacity(model) == pytest.approx(0.6)


def test_a_keras_file_keeps_the_step_through_load_and_compile(tmp_path):
    model = _schedule_model()
    model.fit(_pixels(64), epochs=1, batch_size=16, verbose=0)
    model.save(str(tmp_path / "model.keras"))
    loaded = keras.models.load_model(str(tmp_path / "model.keras"))
    assert int(loaded.training_step.numpy()) == 4
    loaded.compile(optimizer=keras.optimizers.Adam(1e-4))
    loaded.fit(_pixels(16), epochs=1, batch_size=16, verbose=0)
    assert int(loaded.training_step.numpy()) == 5 and _capacity(loaded) == pytest.approx(0.5)


def test_a_keras_file_saved_before_the_model_kept_its_step_takes_the_optimizers(tmp_path, monkeypatch):
    model = _schedule_model()
    model.fit(_pixels(64), epochs=1, batch_size=16, verbose=0)

    def save_without_step(self, store):  # what files written before the step was a model variable hold
        for i, variable in enumerate(v for v in self._trainable_variables + self._non_trainable_variables
                                     if v is not self.training_step):
            store[f"{i}"] = variable

    with monkeypatch.context() as patch:
        patch.setattr(JointVAE, "save_own_variables", save_without_step)
        model.save(str(tmp_path / "old.keras"))
    loaded = keras.models.load_model(str(tmp_path / "old.keras"))
    loaded.fit(_pixels(16), epochs=1, batch_size=16, verbose=0)
    assert int(loaded.training_step.numpy()) == 5
    for a, b in zip(_codes(loaded, _pixels(6, seed=3)), _codes(model, _pixels(6, seed=3))):
        assert a.shape == b.shape


def test_keras_export_serves_the_reconstructions(model, tmp_path):
    model.export(str(tmp_path / "export"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "export"))
    images = _pixels(3).astype(np.float32) / 255.0
    np.testing.assert_allclose(served.serve(images), model(images), atol=1e-6)


def test_encode_sample_and_traverse_answer_tensors_as_calling_a_keras_model_does(model):
    assert all(isinstance(part, tf.Tensor) for part in (model.encode(_pixels(2)).mean, model.sample(2),
                                                        model.traverse(0, steps=3), model(_pixels(2))))
    assert isinstance(model.predict(_pixels(2), verbose=0), np.ndarray)


def test_float_pixels_in_0_to_255_name_the_rescaling_step(model):
    folder_like = tf.data.Dataset.from_tensor_slices((_pixels(8).astype(np.float32), np.zeros(8))).batch(4)
    for use in (lambda: model.encode(_pixels(2).astype(np.float32)),
                lambda: model.fit(folder_like, epochs=1, verbose=0)):
        with pytest.raises(JointVAEError, match=r"keras\.layers\.Rescaling\(1 / 255\)"):
            use()
