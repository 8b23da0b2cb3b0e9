"""The one tf.data input pipeline: in-memory uint8 -> shuffle -> batch -> scale to [0, 1] -> prefetch."""

from __future__ import annotations

import tensorflow as tf

from jointvae_tf.data.info import Examples


def make_dataset(examples: Examples, batch_size: int, shuffle: bool, seed: int = 0, repeat: bool = False,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches of ``examples`` as dicts: ``image`` float32 ``[B, H, W, C]`` in ``[0, 1]``, ``label`` int32
    ``[B]``, and ``factors`` float32 ``[B, F]`` when known.

    Images stay uint8 until after batching, so the shuffle buffer holds 1 byte a pixel and the cast is
    one vectorised op per batch. With ``shuffle`` the order is reshuffled every epoch, deterministically
    for ``seed``; the buffer holds the whole set (a full shuffle).
    """
    tensors = {"image": examples.images, "label": examples.labels}
    if examples.factors is not None:
        tensors["factors"] = examples.factors
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(_to_unit_range, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _to_unit_range(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {**batch, "image": tf.cast(batch["image"], tf.float32) / 255.0}
