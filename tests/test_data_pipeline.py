"""make_dataset: float32 images in [0, 1], the right keys and batch shapes, deterministic for a seed."""

import numpy as np

from jointvae_tf.data import Examples, make_dataset


def examples(count=10, factors=True):
    images = np.arange(count * 4 * 4, dtype=np.int64).reshape(count, 4, 4, 1).astype(np.uint8)
    images[0] = 255
    return Examples(images, np.arange(count, dtype=np.int32),
                    np.ones((count, 3), np.float32) if factors else None)


def test_batches_are_float_images_in_unit_range_with_labels_and_factors():
    batches = list(make_dataset(examples(), batch_size=4, shuffle=False).as_numpy_iterator())
    assert [len(b["label"]) for b in batches] == [4, 4, 2]
    first = batches[0]
    assert set(first) == {"image", "label", "factors"}
    assert first["image"].dtype == np.float32 and first["image"].shape == (4, 4, 4, 1)
    assert first["image"].min() >= 0 and first["image"].max() == 1.0
    assert first["label"].dtype == np.int32 and first["factors"].shape == (4, 3)
    np.testing.assert_allclose(batches[1]["image"], examples().images[4:8] / 255.0, rtol=1e-6)


def test_no_factors_key_when_unknown_and_drop_remainder_repeat():
    dataset = make_dataset(examples(factors=False), batch_size=4, shuffle=True, repeat=True, drop_remainder=True)
    assert set(dataset.element_spec) == {"image", "label"}
    assert dataset.element_spec["image"].shape.as_list() == [4, 4, 4, 1]
    labels = np.concatenate([b["label"] for b in dataset.take(5).as_numpy_iterator()])
    assert len(labels) == 20


def test_shuffle_is_deterministic_for_a_seed_and_reshuffles_each_epoch():
    order = lambda seed: [b["label"].tolist() for b in make_dataset(examples(), 10, True, seed, repeat=True)
                          .take(2).as_numpy_iterator()]
    first, again, other = order(1), order(1), order(2)
    assert first == again and first != other
    assert first[0] != first[1] and sorted(first[0]) == list(range(10))
