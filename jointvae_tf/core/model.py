"""The JointVAE model (Dupont 2018) as a subclassed ``keras.Model`` with its own train/test steps.

Objective per batch (all terms in nats per image, averaged over the batch):

    reconstruction + gamma * |KL_cont - C_cont(step)| + gamma * |KL_disc - C_disc(step)|
                   + disc_balance * sum_i KL(mean_batch q(c_i | x) || uniform)
                   + invariance.weight * sum_i disagreement(q(c_i | x), q(c_i | transformed x))

with KL_cont summed over the Gaussian dimensions and KL_disc summed over the discrete variables. The
step is the model's own ``training_step`` variable (saved in checkpoints and ``.keras`` files), so
``compile`` with a new optimizer, fine-tuning and ``keras.models.load_model`` continue the capacity schedules.
:meth:`JointVAE.compute_terms` is the one place this objective is written; ``jvae-tf evaluate`` calls it too.
"""

from __future__ import annotations

import contextlib
import re
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from jointvae_tf.core import distribute, invariance, latents, losses, sampling
from jointvae_tf.core.capacity import capacity_at
from jointvae_tf.core.config import ModelConfig, RunConfig, TrainConfig
from jointvae_tf.core.networks import build_decoder, build_encoder
from jointvae_tf.errors import ConfigError, JointVAEError

LOSS_TERMS = ("loss", "reconstruction", "kl_cont", "kl_disc", "disc_imbalance", "disc_disagreement", "cont_capacity",
              "disc_capacity")
RANGE_TOLERANCE = 1e-4
"""Float pixels may stray this far outside [0, 1] (interpolation round-off) before they are rejected."""
_RANGE_MESSAGE = "images: expected float pixels in [0, 1] (or uint8 0..255)"
_INPUT_MESSAGE = "images: expected uint8 pixels or float pixels in [0, 1] of shape"
_RESCALE = ("rescale 0..255 floats first, as keras.utils.image_dataset_from_directory yields them: "
            "keras.layers.Rescaling(1 / 255) or dataset.map(lambda x, y: (x / 255, y))")
_SAMPLE_WEIGHT_MESSAGE = ("sample_weight: JointVAE weighs every image alike (its capacity and balance terms "
                          "are batch averages); pass images or (images, labels) without weights")


def check_images(images, image_shape: tuple[int, int, int]) -> tf.Tensor:
    """``images`` as float32 ``[batch, H, W, C]`` in [0, 1], the encoder's input.

    Args:
      images: ``[batch, H, W, C]`` uint8 pixels (divided by 255) or float pixels in [0, 1]; a numpy
        array or a tensor.
      image_shape: the model's ``(H, W, C)``.

    Raises:
      JointVAEError: another shape or dtype, or (when executing eagerly) float values outside [0, 1].
        Inside a traced step the range check runs in the graph; ``JointVAE.fit``/``evaluate``/``predict``
        turn its failure into the same error. Float pixels in 0..255 (what
        ``keras.utils.image_dataset_from_directory`` yields) are refused rather than guessed from their
        range: the error names the rescaling step.
    """
    images = tf.convert_to_tensor(images)
    shape = images.shape
    expected = f"[batch, {', '.join(map(str, image_shape))}]"
    if shape.rank != 4 or not shape[1:].is_compatible_with(image_shape):
        raise JointVAEError(f"images: expected shape {expected} (this model's image size and channels), got "
                            f"{shape.as_list() if shape.rank is not None else 'unknown rank'}; resize or pad first")
    if images.dtype == tf.uint8:
        images, in_range = tf.cast(images, tf.float32) / 255.0, tf.constant(True)
    elif images.dtype.is_floating:
        images = tf.cast(images, tf.float32)
        in_range = tf.logical_and(tf.reduce_all(images >= -RANGE_TOLERANCE),
                                  tf.reduce_all(images <= 1 + RANGE_TOLERANCE))
    else:
        raise JointVAEError(f"images: expected uint8 or float pixels of shape {expected}, got {images.dtype.name}")
    if tf.executing_eagerly():
        if not bool(in_range):
            raise JointVAEError(f"{_RANGE_MESSAGE}, got values from {float(tf.reduce_min(images)):.4g} to "
                                f"{float(tf.reduce_max(images)):.4g}; {_RESCALE}")
        return images
    # Traced: a batch's size may be unknown until it arrives (Keras feeds numpy arrays that way).
    fits = tf.reduce_all(tf.equal(tf.shape(images)[1:], image_shape))
    check = tf.debugging.Assert(tf.logical_and(fits, in_range), [_INPUT_MESSAGE, tf.shape(images)], summarize=4)
    with tf.control_dependencies([check]):
        return tf.identity(images)


@contextlib.contextmanager
def _input_errors(image_shape: tuple[int, int, int]):
    """Turn a failed in-graph check of :func:`check_images` into a :class:`JointVAEError`."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        found = re.search(re.escape(_INPUT_MESSAGE) + r"\W+(\d+) (\d+) (\d+) (\d+)", error.message)
        if not found:
            raise
        raise JointVAEError(f"{_INPUT_MESSAGE} [batch, {', '.join(map(str, image_shape))}], got a batch of shape "
                            f"[{', '.join(found.groups())}] that did not match or held values outside [0, 1] "
                            f"({_RESCALE})") from None


@keras.saving.register_keras_serializable(package="jointvae_tf")
class JointVAE(keras.Model):
    """Encoder q(z, c | x), decoder p(x | z, c), and the capacity-controlled JointVAE objective.

    ``call(images)`` returns deterministic reconstructions ``[batch, H, W, C]`` in [0, 1] (z = mean,
    c = one-hot argmax). Images are ``[batch, H, W, C]`` uint8 (scaled by 1/255) or float in [0, 1]
    (:func:`check_images`; float pixels in 0..255 are refused, rescale them first). Training batches are
    images, dicts with an ``"image"`` key, or ``(images, labels)`` tuples such as TFDS ``as_supervised``
    datasets give: labels are ignored, the objective is unsupervised. Sample weights are refused
    (:class:`~jointvae_tf.errors.JointVAEError`): every image counts alike in the objective.

    ``training_step`` (int64 scalar, not trainable) counts the training batches; the capacity schedules
    read it. It is saved with the weights, so ``compile`` with another optimizer, fine-tuning and
    ``keras.models.load_model`` continue the schedules where they were.

    ``compile`` takes an optimizer (default Adam, learning rate 5e-4) but no ``loss``: the objective is
    set by the :class:`~jointvae_tf.core.config.ModelConfig`. ``model.save("x.keras")`` and
    ``keras.models.load_model("x.keras")`` round-trip once ``jointvae_tf`` is imported; ``model.export(dir)``
    (Keras' SavedModel export) serves ``call`` on float32 images. As with any Keras model, calling the model
    and its methods (``encode``, ``decode``, ``sample``, ``traverse``) returns tensors; ``predict`` returns
    numpy arrays.
    """

    def __init__(self, config: ModelConfig | dict, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = RunConfig.from_dict({"model": config}).model
        self.config = config
        self.seed = seed
        self.encoder = build_encoder(config)
        self.decoder = build_decoder(config)
        self.seed_generator = keras.random.SeedGenerator(seed, name="latent_seed")
        self.log_scale = None
        if losses.uses_learned_scale(config.loss):
            self.log_scale = self.add_weight(name="log_scale", shape=(), trainable=True,
                                             initializer=keras.initializers.Constant(float(tf.math.log(config.loss.scale))))
        # Created last, so the variables of older files keep their places; counted on the first replica only.
        self.training_step = self.add_weight(name="training_step", shape=(), dtype="int64", trainable=False,
                                             initializer="zeros", aggregation="only_first_replica")
        self._step_from_optimizer = False
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOSS_TERMS}
        self._sampler = None
        self.built = True  # every variable exists now: the networks are functional models

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        return {"config": RunConfig(model=self.config).to_dict()["model"], "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def compile(self, optimizer=None, loss=None, **kwargs):
        """Keras ``compile`` with the JointVAE objective; ``optimizer`` defaults to Adam(5e-4).

        Raises:
          JointVAEError: when ``loss`` is given (set ``ModelConfig.loss`` instead).
        """
        if loss is not None:
            raise JointVAEError(f"compile(loss={loss!r}): JointVAE trains its own objective (reconstruction "
                                "+ capacity terms); choose the reconstruction loss with ModelConfig(loss="
                                "LossConfig(kind=...)) and call compile without loss")
        if optimizer is None:
            optimizer = keras.optimizers.Adam(TrainConfig.learning_rate)
        super().compile(optimizer=optimizer, **kwargs)

    # Arrays are checked whole before Keras batches them; datasets batch by batch (see check_images).
    def fit(self, x=None, *args, **kwargs):
        self._take_step_from_optimizer()
        with self._checked_input(x, kwargs.get("sample_weight")):
            return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        self._take_step_from_optimizer()
        with self._checked_input(x, kwargs.get("sample_weight")):
            return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        with self._checked_input(x):
            return super().predict(x, *args, **kwargs)

    def _checked_input(self, x, sample_weight=None):
        if sample_weight is not None:
            raise JointVAEError(_SAMPLE_WEIGHT_MESSAGE)
        if isinstance(x, (np.ndarray, tf.Tensor)):
            check_images(x, self.config.image_shape)
        return _input_errors(self.config.image_shape)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Keras' ``Model.export``; ``input_signature`` defaults to float32 images ``[batch, H, W, C]`` in [0, 1].

        The export serves ``call`` (deterministic reconstructions). ``jvae-tf export``
        (:mod:`jointvae_tf.serving.export`) writes the serving signatures instead (encode, decode, sample, ...).
        """
        if input_signature is None:
            input_signature = [tf.TensorSpec([None, *self.config.image_shape], tf.float32, name="images")]
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def load_own_variables(self, store):
        """Keras loading of the model's own variables; a file saved before the model kept ``training_step``
        lacks it: the step is then taken from the optimizer's iterations once they are loaded too."""
        own = self._trainable_variables + self._non_trainable_variables
        if len(store.keys()) == len(own) - 1 and own[-1] is self.training_step:
            for i, variable in enumerate(own[:-1]):
                variable.assign(store[f"{i}"])
            self._step_from_optimizer = True
            return
        super().load_own_variables(store)

    def _take_step_from_optimizer(self):
        if self._step_from_optimizer and getattr(self, "optimizer", None) is not None:
            self.training_step.assign(tf.cast(self.optimizer.iterations, tf.int64))
            self._step_from_optimizer = False

    def compile_from_config(self, config):
        """Compile as the saved model was (``keras.models.load_model`` calls this)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)

    def build_all(self) -> None:
        """Create every variable (encoder, decoder, learned scale) with one forward pass."""
        self(tf.zeros((1, *self.config.image_shape)))

    # -- the model's pieces --------------------------------------------------------------------------

    def encode(self, images, training: bool = False) -> latents.Encoding:
        """q(z, c | x) parameters for ``images`` ``[batch, H, W, C]``, uint8 or float in [0, 1]."""
        images = check_images(images, self.config.image_shape)
        encoding = tf.cast(self.encoder(images, training=training), tf.float32)  # float32 under mixed precision
        return latents.split_encoding(encoding, self.config.latent)

    def decode(self, latent, training: bool = False) -> tf.Tensor:
        """Images ``[batch, H, W, C]`` in [0, 1] from latent vectors ``[batch, cont + sum(disc)]``
        (``latents.compose`` builds them from z and category ids)."""
        return tf.sigmoid(tf.cast(self.decoder(latent, training=training), tf.float32))

    def sample(self, n: int, category: int | Sequence[int] = (), seed: int = 0) -> tf.Tensor:
        """``n`` images ``[n, H, W, C]`` float32 in [0, 1] (a tensor) from the prior: z ~ N(0, I), categories uniform.

        ``category``: a category id for the first discrete variable, or one per leading variable (-1 =
        random); ``seed``: image ``k`` is drawn with seed ``seed + k``, exactly as the exported ``sample``
        signature and ``jvae-tf sample`` draw it.
        """
        spec = self.config.latent
        if int(n) != n or n < 1:
            raise ConfigError("n", f"expected an integer >= 1, got {n}")
        category = [category] if isinstance(category, (int, np.integer)) else [int(c) for c in category]
        in_range = [sampling.RANDOM_CATEGORY <= c < k for c, k in zip(category, spec.disc)]
        if len(category) > len(spec.disc) or not all(in_range):
            raise ConfigError("category", f"expected up to {len(spec.disc)} ids, each -1 (random) or below its count "
                              f"{list(spec.disc)}, got {category}")
        if self._sampler is None:
            self._sampler = tf.function(lambda seeds, categories: sampling.sample(self.decode, spec, seeds, categories))
        categories = category + [sampling.RANDOM_CATEGORY] * (len(spec.disc) - len(category))
        seeds = np.arange(n, dtype=np.int64) + np.int64(seed)
        rows = np.tile(np.asarray(categories, np.int32).reshape(1, len(spec.disc)), (int(n), 1))
        return self._sampler(tf.constant(seeds), tf.constant(rows))["images"]

    def traverse(self, dim: int, category: int | Sequence[int] = (), steps: int = 10) -> tf.Tensor:
        """Images ``[steps, H, W, C]`` float32 in [0, 1] (a tensor) along continuous dim ``dim``: it sweeps its prior's
        quantiles 0.05 .. 0.95, every other continuous dim stays 0 and the discrete code is fixed.

        ``category``: an id for the first discrete variable or one per variable (default 0 for the rest).
        """
        spec = self.config.latent
        if not 0 <= int(dim) < spec.cont:
            raise JointVAEError(f"dim: expected a continuous dim in 0 .. {spec.cont - 1}, got {dim}")
        category = [category] if isinstance(category, (int, np.integer)) else list(category)
        if len(category) > len(spec.disc) or any(not 0 <= c < k for c, k in zip(category, spec.disc)):
            raise JointVAEError(f"category: expected up to {len(spec.disc)} ids, each below its count "
                                f"{list(spec.disc)}, got {category}")
        categories = np.asarray([category + [0] * (len(spec.disc) - len(category))], np.int32)
        images = sampling.traverse(self.decode, spec, tf.constant([int(dim)], tf.int32),
                                   tf.constant(categories.reshape(1, len(spec.disc))), latents.prior_quantiles(steps))
        return images["images"][0]

    def call(self, images, training=False):
        return self.decode(latents.mode_latent(self.encode(images, training)), training)

    # -- objective -----------------------------------------------------------------------------------

    def compute_terms(self, images: tf.Tensor, training: bool, step: tf.Tensor | int | None = None,
                      seed: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """Every term of the objective (``LOSS_TERMS``) for one batch ``[batch, H, W, C]`` (scalars, nats per image).

        ``step``: training step of the capacity schedules; the model's ``training_step`` when None. ``seed``: stateless seed, int ``[2]``, of the latent sample and the invariance
        term's transform; the model's seed generator's next one when None.
        """
        config = self.config
        encoding = self.encode(images, training)
        seed = self.seed_generator.next() if seed is None else seed
        seed = distribute.replica_seed(tf.cast(seed, tf.int32))
        latent_seed, transform_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        latent = latents.sample_latent(encoding, config.temperature, latent_seed)
        logits = tf.cast(self.decoder(latent, training=training), tf.float32)
        reconstruction = tf.reduce_mean(losses.reconstruction_loss(images, logits, config.loss, self.log_scale))
        kl_cont = tf.reduce_sum(tf.reduce_mean(latents.kl_normal(encoding.mean, encoding.log_var), axis=0))
        kl_disc = tf.add_n([tf.reduce_mean(latents.kl_categorical_uniform(lg)) for lg in encoding.logits]
                           or [tf.constant(0.0)])
        disc_imbalance = tf.add_n([latents.kl_marginal_uniform(lg) for lg in encoding.logits] or [tf.constant(0.0)])
        if step is None:
            step = self.training_step
        disc_disagreement = tf.constant(0.0)
        if config.invariance.active and config.latent.disc:
            def measured_disagreement():
                transformed = invariance.random_transform(images, config.invariance, transform_seed)
                transformed_logits = self.encode(transformed, training).logits
                disagreement = invariance.OBJECTIVES[config.invariance.objective]
                return tf.add_n([disagreement(a, b) for a, b in zip(encoding.logits, transformed_logits)])

            every = config.invariance.every
            if training and every > 1:
                # Measured at every `every`-th step at `every` times its value (so its mean, the logged value
                # included, is the term's), skipping the second encoder pass on the other steps.
                disc_disagreement = tf.cond(tf.equal(tf.cast(step, tf.int64) % every, 0),
                                            lambda: float(every) * measured_disagreement(), lambda: tf.constant(0.0))
            else:
                disc_disagreement = measured_disagreement()
        cont_capacity = capacity_at(config.cont_capacity, step)
        disc_capacity = capacity_at(config.disc_capacity, step, cap=config.latent.max_disc_capacity)
        gamma = config.loss.gamma
        loss = reconstruction
        if config.latent.cont:
            loss += gamma * tf.abs(kl_cont - cont_capacity)
        if config.latent.disc:
            loss += gamma * tf.abs(kl_disc - disc_capacity) + config.loss.disc_balance * disc_imbalance
            loss += config.invariance.weight * disc_disagreement
        return {"loss": loss, "reconstruction": reconstruction, "kl_cont": kl_cont, "kl_disc": kl_disc,
                "disc_imbalance": disc_imbalance, "disc_disagreement": disc_disagreement,
                "cont_capacity": cont_capacity, "disc_capacity": disc_capacity}

    def _update_trackers(self, terms):
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return distribute.step_logs({name: tracker.result() for name, tracker in self.trackers.items()})

    @staticmethod
    def batch_images(data):
        """The images of a training batch: ``images``, ``{"image": images, ...}`` or ``(images, labels)``.

        Raises:
          JointVAEError: the batch carries sample weights (a third element).
        """
        images, _, weights = keras.utils.unpack_x_y_sample_weight(data)
        if weights is not None:
            raise JointVAEError(_SAMPLE_WEIGHT_MESSAGE)
        return images["image"] if isinstance(images, dict) else images

    def train_step(self, data):
        images = check_images(self.batch_images(data), self.config.image_shape)
        with tf.GradientTape() as tape:
            terms = self.compute_terms(images, training=True)
            # Replicas' gradients are summed, so each contributes its share of the global-batch mean.
            scaled = self.optimizer.scale_loss(terms["loss"] / distribute.num_replicas())
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.training_step.assign_add(1)
        return self._update_trackers(terms)

    def test_step(self, data):
        images = check_images(self.batch_images(data), self.config.image_shape)
        return self._update_trackers(self.compute_terms(images, training=False))
