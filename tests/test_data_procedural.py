"""The procedural Four Shapes: its factors control the pixels, and it is deterministic for a seed."""

import dataclasses

import numpy as np
import pytest

from jointvae_tf.data.info import SHAPE_FACTORS
from jointvae_tf.data.procedural import render_shapes, render_split, sample_shapes

SQUARE, STAR = 1, 2


def plain(shape, **factors):
    """One clean, centred shape: no nuisance variation, no noise."""
    params = sample_shapes(1, np.random.default_rng(0))
    fields = {f.name: np.zeros(1, np.float32) for f in dataclasses.fields(params)}
    fields.update(shape=np.array([shape], np.int32), scale=np.array([0.5], np.float32),
                  filled=np.ones(1, np.float32), star_inner=np.array([0.45], np.float32),
                  brightness=np.ones(1, np.float32))
    fields.update({k: np.array([v], np.float32) for k, v in factors.items()})
    return dataclasses.replace(params, **fields)


def lit_area(params, size=64):
    return (render_shapes(params, size) > 127).sum()


def test_square_rotated_by_a_quarter_turn_is_the_same_image():
    a = render_shapes(plain(SQUARE, rotation=0.3), 64).astype(int)
    b = render_shapes(plain(SQUARE, rotation=0.3 + np.pi / 2), 64).astype(int)
    assert np.abs(a - b).max() <= 2


def test_rotation_moves_the_pixels_of_a_star():
    a = render_shapes(plain(STAR, rotation=0.0), 64).astype(int)
    b = render_shapes(plain(STAR, rotation=np.pi / 5), 64).astype(int)
    assert np.abs(a - b).max() > 200


@pytest.mark.parametrize("shape", range(4))
def test_doubling_scale_quadruples_the_filled_area(shape):
    ratio = lit_area(plain(shape, scale=0.8)) / lit_area(plain(shape, scale=0.4))
    assert 3.6 < ratio < 4.4


def test_outline_is_thinner_than_filled_and_thickens_with_the_stroke():
    filled = lit_area(plain(SQUARE))
    thin = lit_area(plain(SQUARE, filled=0.0, thickness=0.06))
    thick = lit_area(plain(SQUARE, filled=0.0, thickness=0.12))
    assert thin < thick < filled
    assert 1.6 < thick / thin < 2.4


def test_position_moves_the_centre_of_mass():
    image = render_shapes(plain(SQUARE, scale=0.3, x=0.5, y=-0.25), 64)[0, :, :, 0].astype(float)
    rows, cols = np.indices(image.shape) + 0.5
    centre = (cols * image).sum() / image.sum(), (rows * image).sum() / image.sum()
    np.testing.assert_allclose(centre, (32 + 0.5 * 32, 32 - 0.25 * 32), atol=0.5)


def test_renders_at_32_and_64_with_factors_in_order():
    for size in (32, 64):
        examples = render_split("validation", 40, size, seed=1)
        assert examples.images.shape == (40, size, size, 1) and examples.images.dtype == np.uint8
        assert examples.factors.shape == (40, len(SHAPE_FACTORS))
        np.testing.assert_array_equal(examples.factors[:, 0], examples.labels)


def test_same_seed_same_images_other_seed_or_split_differs():
    a, b = render_split("train", 64, 32, seed=5), render_split("train", 64, 32, seed=5)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.factors, b.factors)
    assert not np.array_equal(a.images, render_split("train", 64, 32, seed=6).images)
    assert not np.array_equal(a.images, render_split("test", 64, 32, seed=5).images)


def test_the_same_images_on_one_core_as_on_many(monkeypatch):
    many = render_split("train", 600, 32, seed=5).images  # several chunks, rendered on threads
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    np.testing.assert_array_equal(render_split("train", 600, 32, seed=5).images, many)


def test_classes_balanced_and_factors_in_their_ranges():
    examples = render_split("train", 2000, 32, seed=0)
    np.testing.assert_array_equal(np.bincount(examples.labels), [500] * 4)
    factors = dict(zip(SHAPE_FACTORS, examples.factors.T))
    period = np.array([0, np.pi / 2, 2 * np.pi / 5, 2 * np.pi / 3])[examples.labels]
    assert np.all((factors["rotation"] >= 0) & (factors["rotation"] <= period))
    assert set(factors) == {"shape", "scale", "rotation", "x", "y"}
    assert factors["scale"].max() / factors["scale"].min() > 3
