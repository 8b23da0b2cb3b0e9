"""Run a trained model over a set of images in batches and summarise its codes and loss terms.

:func:`batches` cuts arrays into batches of :data:`INFERENCE_BATCH` rows; :func:`encode_dataset`,
:func:`decode`, :func:`reconstruct` and :func:`categories_of` are the one home of batched inference on
arrays, for every module that runs a model over many images or latents.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Iterator

import numpy as np
import tensorflow as tf

from jointvae_tf.core import latents, losses
from jointvae_tf.core.config import TrainConfig
from jointvae_tf.core.model import JointVAE
from jointvae_tf.evaluation import metrics
from jointvae_tf.progress import Progress, tracked

INFERENCE_BATCH = 256
"""Rows per batch when a trained model runs over arrays (memory, not results, depends on it)."""


@dataclasses.dataclass
class EncodedData:
    """Codes of N images under q(z, c | x) and the model's fit to them.

    ``mean``, ``log_var``: ``[N, cont]``; ``probabilities``: one ``[N, K_i]`` array per discrete variable;
    ``categories``: ``[N, n_disc]`` argmax; ``kl_cont``: ``[cont]`` mean KL per dimension (nats);
    ``kl_disc``: ``[n_disc]`` mean KL per discrete variable (nats); ``reconstruction``: mean
    reconstruction loss per image of the deterministic code (z = mean, c = argmax), nats.
    """

    mean: np.ndarray
    log_var: np.ndarray
    probabilities: list[np.ndarray]
    categories: np.ndarray
    kl_cont: np.ndarray
    kl_disc: np.ndarray
    reconstruction: float


def batches(array: np.ndarray, batch_size: int, progress: Progress | None = None) -> Iterator[tf.Tensor]:
    """Consecutive slices of ``array`` along its first axis, each a float32 tensor of up to ``batch_size``
    rows. ``array``: images ``[N, H, W, C]`` already in [0, 1] (see ``pixels.to_unit_range``) or latents.
    ``progress`` advances by one per batch, once the caller has used it."""
    for start in tracked(range(0, len(array), batch_size), progress):
        yield tf.convert_to_tensor(array[start:start + batch_size], tf.float32)


_ENCODERS: "weakref.WeakKeyDictionary[JointVAE, object]" = weakref.WeakKeyDictionary()


def _encode_batch_fn(model: JointVAE):
    """A traced per-batch encoder for ``model``, made once per model and reused."""
    if model in _ENCODERS:
        return _ENCODERS[model]

    @tf.function(reduce_retracing=True)
    def encode_batch(images):
        encoding = model.encode(images)
        logits = tf.cast(model.decoder(latents.mode_latent(encoding)), tf.float32)
        reconstruction = losses.reconstruction_loss(images, logits, model.config.loss, model.log_scale)
        probabilities = [tf.nn.softmax(lg) for lg in encoding.logits]
        kl_disc = [latents.kl_categorical_uniform(lg) for lg in encoding.logits]
        return encoding.mean, encoding.log_var, probabilities, kl_disc, reconstruction
    _ENCODERS[model] = encode_batch
    return encode_batch


def objective_terms(model: JointVAE, images: np.ndarray, step: int = 0, seed: int = 0,
                    batch_size: int = TrainConfig.batch_size, progress: Progress | None = None) -> dict[str, float]:
    """The training objective's terms (:meth:`JointVAE.compute_terms`, ``LOSS_TERMS``) on ``images``
    ``[N, H, W, C]`` (float in [0, 1]) at training step ``step``, averaged over batches of ``batch_size``
    (weighted by their length); batch ``i`` draws its latent sample and rotation with the seed ``[seed, i]``.
    Use the run's batch size: the balance term is measured per batch. Nats per image. ``progress``: see
    :func:`batches`."""
    compute = _terms_batch_fn(model)
    totals: dict[str, float] = {}
    for i, batch in enumerate(batches(images, batch_size, progress)):
        terms = compute(batch, tf.constant([seed, i], tf.int32), tf.constant(step, tf.int64))
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(batch)
    return {name: total / len(images) for name, total in totals.items()}


_TERMS: "weakref.WeakKeyDictionary[JointVAE, object]" = weakref.WeakKeyDictionary()


def _terms_batch_fn(model: JointVAE):
    """A traced per-batch :meth:`JointVAE.compute_terms` for ``model`` (step and seed as tensors, so one
    trace serves every step), made once per model and reused."""
    if model not in _TERMS:
        _TERMS[model] = tf.function(lambda images, seed, step: model.compute_terms(images, False, step, seed),
                                    reduce_retracing=True)
    return _TERMS[model]


def encode_dataset(model: JointVAE, images: np.ndarray, batch_size: int = INFERENCE_BATCH,
                   progress: Progress | None = None) -> EncodedData:
    """Encode ``images`` ``[N, H, W, C]`` (float in [0, 1]) in batches and summarise (``progress``: see
    :func:`batches`)."""
    encode_batch = _encode_batch_fn(model)
    parts = [encode_batch(batch) for batch in batches(images, batch_size, progress)]
    mean = np.concatenate([p[0].numpy() for p in parts])
    log_var = np.concatenate([p[1].numpy() for p in parts])
    n_disc = len(model.config.latent.disc)
    probabilities = [np.concatenate([p[2][i].numpy() for p in parts]) for i in range(n_disc)]
    kl_disc = np.array([np.concatenate([p[3][i].numpy() for p in parts]).mean() for i in range(n_disc)])
    categories = np.stack([p.argmax(axis=1) for p in probabilities], axis=1) if n_disc else np.zeros((len(mean), 0), int)
    kl_cont = latents.kl_normal(mean, log_var).numpy().mean(axis=0)
    reconstruction = float(np.concatenate([p[4].numpy() for p in parts]).mean())
    return EncodedData(mean, log_var, probabilities, categories, kl_cont, kl_disc, reconstruction)


def cluster_scores(labels: np.ndarray, categories: np.ndarray, n_categories: int) -> dict[str, float | int]:
    """How well one discrete variable's categories ``[N]`` find the classes ``labels`` ``[N]``.

    ``cluster_accuracy``: one-to-one (Hungarian) mapping when ``n_categories`` <= classes, else majority
    (:func:`jointvae_tf.evaluation.metrics.cluster_accuracy`); ``nmi``; ``ari`` (adjusted Rand index);
    ``classes_with_own_category``. Training's held-out evaluation and ``jvae-tf evaluate`` both score with
    this function.
    """
    return {"cluster_accuracy": metrics.cluster_accuracy(labels, categories, n_clusters=n_categories),
            "nmi": metrics.normalized_mutual_info(labels, categories),
            "ari": metrics.adjusted_rand_index(labels, categories),
            "classes_with_own_category": metrics.classes_with_own_category(labels, categories)}


def decode(model: JointVAE, latent: np.ndarray, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """Images ``[N, H, W, C]`` float32 in [0, 1] decoded from latents ``[N, size]``, in batches."""
    parts = [model.decode(batch).numpy() for batch in batches(latent, batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, *model.config.image_shape), np.float32)


def reconstruct(model: JointVAE, images: np.ndarray, batch_size: int = INFERENCE_BATCH,
                progress: Progress | None = None) -> np.ndarray:
    """Deterministic reconstructions (z = mean, c = argmax) of ``images`` ``[N, H, W, C]`` in [0, 1]
    (``progress``: see :func:`batches`)."""
    return np.concatenate([model(batch).numpy() for batch in batches(images, batch_size, progress)])


def categories_of(model: JointVAE, images: np.ndarray, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """``[N]`` argmax category of the first discrete variable for images ``[N, H, W, C]`` in [0, 1]."""
    return all_categories_of(model, images, batch_size)[:, 0]


_CATEGORIZERS: "weakref.WeakKeyDictionary[JointVAE, object]" = weakref.WeakKeyDictionary()


def all_categories_of(model: JointVAE, images: np.ndarray, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """``[N, n_disc]`` argmax category of every discrete variable for images ``[N, H, W, C]`` in [0, 1]: the
    encoder alone, traced once per model (what :func:`encode_dataset` gives as ``categories``, without the
    decoder's pass)."""
    if model not in _CATEGORIZERS:
        _CATEGORIZERS[model] = tf.function(
            lambda batch: tf.stack([tf.argmax(logits, axis=-1) for logits in model.encode(batch).logits], axis=1),
            reduce_retracing=True)
    parts = [_CATEGORIZERS[model](batch).numpy() for batch in batches(images, batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, len(model.config.latent.disc)), np.int64)

