"""Label-free selection score: augmentations move images as stated, balance has its closed forms, and the
score ranks a stable code above a fragile one and above one that ignores the image."""

import math

import numpy as np
import pytest

from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig
from jointvae_tf.errors import JointVAEError
from jointvae_tf.evaluation import selection
from jointvae_tf.evaluation.inference import encode_dataset
from jointvae_tf.training.trainer import build_model

SIZE = 32


def blobs(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs ``[count, 32, 32, 1]`` in [0, 1], each in one quadrant, at least 6 px from the centre
    lines and the border, of radius 1.5-3 px; and the quadrant of each (0-3)."""
    rng = np.random.default_rng(seed)
    quadrant = rng.integers(0, 4, count)
    y = np.where(quadrant // 2 == 0, rng.uniform(6, 10, count), rng.uniform(22, 26, count))
    x = np.where(quadrant % 2 == 0, rng.uniform(6, 10, count), rng.uniform(22, 26, count))
    return draw_blobs(y, x, rng.uniform(1.5, 3, count)), quadrant


def draw_blobs(y: np.ndarray, x: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Gaussian blobs ``[N, 32, 32, 1]`` centred at pixel (y, x), standard deviation ``radius`` px."""
    rows, cols = np.mgrid[:SIZE, :SIZE]
    squared = (rows - y[:, None, None]) ** 2 + (cols - x[:, None, None]) ** 2
    return np.exp(-squared / (2 * radius[:, None, None] ** 2))[..., None].astype("float32")


def centroid(images: np.ndarray) -> np.ndarray:
    """Brightness centroid ``[N, 2]`` (row, column) of images ``[N, H, W, 1]``."""
    rows, cols = np.mgrid[:images.shape[1], :images.shape[2]]
    mass = images[..., 0].sum((1, 2))
    return np.stack([(images[..., 0] * rows).sum((1, 2)) / mass, (images[..., 0] * cols).sum((1, 2)) / mass], 1)


def quadrant_code(images):  # carries the class: unchanged by small moves
    row, col = centroid(images).T
    return ((row > (SIZE - 1) / 2) * 2 + (col > (SIZE - 1) / 2)).astype(int)[:, None]


def pixel_code(images):  # carries the exact position of the brightest pixel: changes with any move
    return (images[..., 0].reshape(len(images), -1).argmax(1) % 4)[:, None]


def column_code(images):  # carries the horizontal position: which of 8 columns of the frame holds the centroid
    return np.clip(centroid(images)[:, 1] // (SIZE / 8), 0, 7).astype(int)[:, None]


def constant_code(images):  # ignores the image
    return np.zeros((len(images), 1), int)


def test_no_move_leaves_images_alone_and_every_code_agrees():
    images, _ = blobs(20, 0)
    still = selection.Augmentation(shift=0.0, degrees=0.0, scale=0.0, views=2)
    np.testing.assert_allclose(still.apply(images, np.random.default_rng(0)), images, atol=1e-5)
    assert selection.code_agreement(pixel_code, images, still) == 1.0


def test_shifts_move_the_content_by_the_drawn_amount():
    y, x = np.random.default_rng(1).uniform(12, 20, (2, 50))
    images = draw_blobs(y, x, np.full(50, 2.0))  # far enough from the border to stay whole when moved
    shifting = selection.Augmentation(shift=0.1, degrees=0.0, scale=0.0)
    moved = shifting.apply(images, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    rng.uniform(0, 0, 50), rng.uniform(1, 1, 50)  # the angle and zoom draws come first
    shifts = rng.uniform(-0.1, 0.1, (50, 2)) * SIZE  # (x, y)
    np.testing.assert_allclose(centroid(moved) - centroid(images), shifts[:, ::-1], atol=0.05)
    assert np.abs(shifts).max() > 2.5


def test_zoom_scales_a_centred_disc_area_by_the_square_of_the_factor():
    rows, cols = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    disc = np.repeat((np.hypot(rows, cols) < 8).astype("float32")[None, :, :, None], 30, 0)
    zooming = selection.Augmentation(shift=0.0, degrees=0.0, scale=0.3)
    rng = np.random.default_rng(5)
    rng.uniform(0, 0, 30)  # the angle draws come first
    zooms = rng.uniform(0.7, 1.3, 30)
    areas = zooming.apply(disc, np.random.default_rng(5))[..., 0].sum((1, 2))
    np.testing.assert_allclose(areas / disc[0].sum(), zooms ** 2, rtol=0.05)


def test_rotation_turns_the_content_about_the_centre_by_the_drawn_angle():
    rng = np.random.default_rng(2)
    distance, direction = rng.uniform(6, 9, 100), rng.uniform(-np.pi, np.pi, 100)
    centre = (SIZE - 1) / 2
    images = draw_blobs(centre + distance * np.sin(direction), centre + distance * np.cos(direction), np.full(100, 2.0))
    turned = selection.Augmentation(shift=0.0, degrees=10.0, scale=0.0).apply(images, np.random.default_rng(0))
    drawn = np.random.default_rng(0).uniform(-10, 10, 100)  # the angle draws come first
    (row, col), (new_row, new_col) = (centroid(images) - centre).T, (centroid(turned) - centre).T
    np.testing.assert_allclose(np.hypot(new_row, new_col), distance, atol=0.05)
    change = np.degrees(np.angle(np.exp(1j * (np.arctan2(new_row, new_col) - np.arctan2(row, col)))))
    np.testing.assert_allclose(change, drawn, atol=0.5)  # clockwise on screen for a positive angle


def test_balance_is_the_normalised_entropy_of_the_category_histogram():
    even = np.arange(400)[:, None] % 4
    assert selection.category_balance(even, (4,)) == pytest.approx(1.0)
    assert selection.category_balance(even % 2, (4,)) == pytest.approx(math.log(2) / math.log(4))
    assert selection.category_balance(np.zeros((10, 1), int), (4,)) == 0.0
    assert selection.category_balance(np.concatenate([even, 0 * even], 1), (4, 3)) == pytest.approx(0.5)


def test_a_stable_code_outscores_a_fragile_one_and_one_that_ignores_the_image():
    images, quadrant = blobs(400, 4)
    np.testing.assert_array_equal(quadrant_code(images)[:, 0], quadrant)
    scores = {}
    for name, code in {"stable": quadrant_code, "fragile": pixel_code, "constant": constant_code}.items():
        agreement = selection.code_agreement(code, images, selection.Augmentation(), seed=0)
        scores[name] = selection.SelectionScore(agreement, selection.category_balance(code(images), (4,)), 0.0)
    assert scores["stable"].agreement > 0.98 and scores["stable"].balance > 0.98
    assert scores["fragile"].agreement < 0.5 and scores["fragile"].balance > 0.95
    assert scores["constant"].agreement == 1.0 and scores["constant"].score == 0.0
    assert scores["stable"].score > 2 * scores["fragile"].score > 0


def test_moves_that_the_normalisation_undoes_do_not_count_against_the_code():
    y, x = np.random.default_rng(9).uniform(10, 22, (2, 200))
    images = draw_blobs(y, x, np.full(200, 2.5))
    shifting = selection.Augmentation(shift=0.1, degrees=0.0, scale=0.0)
    assert selection.code_agreement(column_code, images, shifting) < 0.6
    assert selection.code_agreement(column_code, images, shifting, normalize="moments") == 1.0  # centred
    assert selection.normalized(images, "none") is images
    with pytest.raises(JointVAEError, match="normalize"):
        selection.normalized(images, "centre")


def tiny_model(disc=(3,)):
    return build_model(RunConfig(model=ModelConfig(latent=LatentSpec(2, disc), hidden_units=32)))


def test_a_model_whose_code_ignores_the_image_scores_zero():
    model = tiny_model()
    layer = model.encoder.get_layer("encoding")
    kernel, bias = layer.get_weights()
    kernel[:, -3:], bias[-3:] = 0.0, [0.0, 2.0, 0.0]  # the discrete logits no longer read the image
    layer.set_weights([kernel, bias])
    images, _ = blobs(64, 5)
    result = selection.selection_score(model, images)
    assert (result.agreement, result.balance, result.score) == (1.0, 0.0, 0.0)
    encoded = encode_dataset(model, images)
    assert result.elbo == pytest.approx(-(encoded.reconstruction + encoded.kl_cont.sum() + encoded.kl_disc.sum()))
    assert set(result.to_dict()) == {"score", "agreement", "balance", "elbo", "used"}
    assert result.used == pytest.approx(1 / 3) and result.collapsed  # one category of three in use


def test_a_category_is_in_use_when_it_holds_a_tenth_of_an_even_share():
    # 1000 images, K 4: an even share is 250, a tenth of it 25 images.
    counts = {0: 500, 1: 450, 2: 25, 3: 25}
    categories = np.repeat(list(counts), list(counts.values()))[:, None]
    assert selection.used_share(categories, (4,)) == 1.0
    counts = {0: 500, 1: 476, 2: 24, 3: 0}
    categories = np.repeat(list(counts), list(counts.values()))[:, None]
    assert selection.used_share(categories, (4,)) == 0.5
    assert not selection.SelectionScore(1.0, 0.5, 0.0, used=0.5).collapsed
    both = np.concatenate([categories, np.zeros_like(categories)], 1)
    assert selection.used_share(both, (4, 2)) == 0.5  # the smallest share of the two variables
    assert selection.used_share(categories[::40], (4,)) == 1.0  # 25 images for 4 categories: too few to tell


def test_held_out_elbo_rises_as_the_model_fits_the_images():
    model = tiny_model()
    train, _ = blobs(256, 6)
    held_out, _ = blobs(128, 7)
    before = selection.selection_score(model, held_out).elbo
    model.fit(train, epochs=3, batch_size=32, verbose=0)
    assert selection.selection_score(model, held_out).elbo > before + 10


@pytest.mark.parametrize("kwargs", [{"shift": 0.5}, {"degrees": -1.0}, {"scale": 1.0}, {"views": 0}])
def test_bad_augmentation_settings_are_refused(kwargs):
    with pytest.raises(JointVAEError, match="augmentation"):
        selection.Augmentation(**kwargs)


def test_selection_refuses_a_model_without_categories_and_images_of_the_wrong_size():
    images, _ = blobs(4, 8)
    with pytest.raises(JointVAEError, match="no discrete variable"):
        selection.selection_score(tiny_model(disc=()), images)
    with pytest.raises(JointVAEError, match=r"expected \[N, 32, 32, 1\]"):
        selection.selection_score(tiny_model(), images[:, :16, :16])


def test_images_prepared_once_score_as_the_images_do_and_the_encoder_alone_gives_the_categories():
    model = tiny_model(disc=(3, 2))
    images, _ = blobs(48, 9)
    prepared = selection.ScoringImages.prepare(images, selection.Augmentation(views=3), seed=4, normalize="moments")
    assert len(prepared.views) == 3 and prepared.images.shape == images.shape
    score, encoded = selection.scored_encoding(model, prepared)
    categorize = selection.model_categorizer(model)
    np.testing.assert_array_equal(categorize(prepared.images), encoded.categories)
    assert score.agreement == selection.code_agreement(categorize, images, selection.Augmentation(views=3), seed=4,
                                                       normalize="moments")
    assert score == selection.selection_score(model, images, selection.Augmentation(views=3), seed=4,
                                              normalize="moments")
