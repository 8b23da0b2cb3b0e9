"""The JointVAE model (Dupont 2018) as a subclassed ``keras.Model`` with its own train/test steps.

Objective per batch (all terms in nats per image, averaged over the batch):

    reconstruction + gamma * |KL_cont - C_cont(step)| + gamma * |KL_disc - C_disc(step)|
                   + disc_balance * sum_i KL(mean_batch q(c_i | x) || uniform)
                   + invariance.weight * sum_i disagreement(q(c_i | x), q(c_i | rotated x))

with KL_cont summed over the Gaussian dimensions and KL_disc summed over the discrete variables. The
step is the optimizer's iteration count, so a restored optimizer resumes the capacity schedules.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from jointvae_tf import distribute, invariance, latents, losses
from jointvae_tf.capacity import capacity_at
from jointvae_tf.config import ModelConfig, RunConfig
from jointvae_tf.networks import build_decoder, build_encoder

LOSS_TERMS = ("loss", "reconstruction", "kl_cont", "kl_disc", "disc_imbalance", "disc_disagreement", "cont_capacity",
              "disc_capacity")


@keras.saving.register_keras_serializable(package="jointvae_tf")
class JointVAE(keras.Model):
    """Encoder q(z, c | x), decoder p(x | z, c), and the capacity-controlled JointVAE objective.

    ``call(images)`` returns deterministic reconstructions ``[batch, H, W, C]`` in [0, 1] (z = mean,
    c = one-hot argmax). Training batches are either image tensors or dicts with an ``"image"`` key.
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
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOSS_TERMS}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        return {"config": RunConfig(model=self.config).to_dict()["model"], "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_run(cls, run_dir: str) -> "JointVAE":
        """Rebuild the model of a run folder and load its latest checkpoint's weights."""
        from jointvae_tf.checkpoints import Checkpointer

        run = RunConfig.load(os.path.join(run_dir, "config.json"))
        model = cls(run.model, seed=run.train.seed)
        model.build_all()
        Checkpointer(run_dir, model).restore_latest(require=True)
        return model

    def build_all(self) -> None:
        """Create every variable (encoder, decoder, learned scale) with one forward pass."""
        self(tf.zeros((1, *self.config.image_shape)))

    # -- the model's pieces --------------------------------------------------------------------------

    def encode(self, images: tf.Tensor, training: bool = False) -> latents.Encoding:
        """q(z, c | x) parameters for ``images`` ``[batch, H, W, C]`` in [0, 1]."""
        encoding = tf.cast(self.encoder(images, training=training), tf.float32)  # float32 under mixed precision
        return latents.split_encoding(encoding, self.config.latent)

    def decode(self, latent: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Images ``[batch, H, W, C]`` in [0, 1] from latent vectors ``[batch, cont + sum(disc)]``."""
        return tf.sigmoid(tf.cast(self.decoder(latent, training=training), tf.float32))

    def call(self, images, training=False):
        return self.decode(latents.mode_latent(self.encode(images, training)), training)

    # -- objective -----------------------------------------------------------------------------------

    def compute_terms(self, images: tf.Tensor, training: bool) -> dict[str, tf.Tensor]:
        """Every term of the objective for one batch (scalars, nats per image)."""
        config = self.config
        encoding = self.encode(images, training)
        seed = distribute.replica_seed(tf.cast(self.seed_generator.next(), tf.int32))
        latent_seed, rotation_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        latent = latents.sample_latent(encoding, config.temperature, latent_seed)
        logits = tf.cast(self.decoder(latent, training=training), tf.float32)
        reconstruction = tf.reduce_mean(losses.reconstruction_loss(images, logits, config.loss, self.log_scale))
        kl_cont = tf.reduce_sum(tf.reduce_mean(latents.kl_normal(encoding.mean, encoding.log_var), axis=0))
        kl_disc = tf.add_n([tf.reduce_mean(latents.kl_categorical_uniform(lg)) for lg in encoding.logits]
                           or [tf.constant(0.0)])
        disc_imbalance = tf.add_n([latents.kl_marginal_uniform(lg) for lg in encoding.logits] or [tf.constant(0.0)])
        disc_disagreement = tf.constant(0.0)
        if config.invariance.active and config.latent.disc:
            rotated = invariance.random_rotation(images, config.invariance.rotation, rotation_seed)
            rotated_logits = self.encode(rotated, training).logits
            disc_disagreement = tf.add_n([invariance.disagreement(a, b)
                                          for a, b in zip(encoding.logits, rotated_logits)])
        optimizer = getattr(self, "optimizer", None)
        step = optimizer.iterations if optimizer is not None else 0
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

    def train_step(self, data):
        images = data["image"] if isinstance(data, dict) else data
        with tf.GradientTape() as tape:
            terms = self.compute_terms(images, training=True)
            # Replicas' gradients are summed, so each contributes its share of the global-batch mean.
            scaled = self.optimizer.scale_loss(terms["loss"] / distribute.num_replicas())
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._update_trackers(terms)

    def test_step(self, data):
        images = data["image"] if isinstance(data, dict) else data
        return self._update_trackers(self.compute_terms(images, training=False))
