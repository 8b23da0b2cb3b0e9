"""Normalisation: by the bounding box (as MNIST) or by moments (centre of mass, RMS radius)."""

import numpy as np

import pytest

from jointvae_tf.data.normalize import (RADIUS_FRACTION, content_boxes, normalize_handwriting, normalize_images,
                                        normalize_moments)


def test_content_boxes_are_the_ink_bounding_boxes():
    images = np.zeros((2, 32, 32, 1), np.uint8)
    images[0, 2:6, 3:11] = 200
    images[0, 20, 20] = 40  # faint: below the threshold
    np.testing.assert_array_equal(content_boxes(images), [[2, 3, 6, 11], [0, 0, 0, 0]])


def test_off_centre_bar_lands_centred_in_the_inner_box():
    images = np.zeros((1, 64, 64, 1), np.uint8)
    images[0, 4:12, 40:56] = 255  # 8 x 16, top right
    top, left, bottom, right = content_boxes(normalize_handwriting(images))[0]
    assert abs(left - 8) <= 1 and abs(right - 56) <= 1  # longer side: 48 of 64, centred
    assert abs(top - 20) <= 1 and abs(bottom - 44) <= 1  # aspect kept: 24 tall


def test_blank_images_stay_blank_and_rgb_keeps_its_shape():
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[1, 10:14, 10:30, 0] = 255
    out = normalize_handwriting(images)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not out[0].any() and out[1, ..., 0].any() and not out[1, ..., 1].any()


def _square(size, side, angle, centre):
    """A filled square of ``side`` pixels turned by ``angle`` radians around ``centre`` (y, x)."""
    y, x = np.mgrid[:size, :size] + 0.5
    dy, dx = y - centre[0], x - centre[1]
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    return ((np.abs(u) < side / 2) & (np.abs(v) < side / 2)).astype(np.uint8)[..., None] * 255


def test_moments_centre_the_mass_and_keep_size_under_rotation():
    images = np.stack([_square(64, 12, 0.0, (14, 40)), _square(64, 12, np.pi / 4, (44, 20))])
    out = normalize_moments(images).astype(np.float32)[..., 0]
    mass = out.sum(axis=(1, 2))
    y, x = np.mgrid[:64, :64] + 0.5
    np.testing.assert_allclose((out * y).sum(axis=(1, 2)) / mass, [32, 32], atol=0.6)
    np.testing.assert_allclose((out * x).sum(axis=(1, 2)) / mass, [32, 32], atol=0.6)
    assert mass[1] == pytest.approx(mass[0], rel=0.05)  # by the bounding box: half the area
    boxed = normalize_handwriting(images).astype(np.float32)[..., 0].sum(axis=(1, 2))
    assert boxed[1] < 0.6 * boxed[0]
    rms = np.sqrt((out[0] * ((y - 32) ** 2 + (x - 32) ** 2)).sum() / mass[0])
    assert rms == pytest.approx(RADIUS_FRACTION * 64, rel=0.05)


def test_normalize_images_dispatches_by_name():
    images = _square(32, 8, 0.3, (10, 10))[None]
    np.testing.assert_array_equal(normalize_images(images, "box"), normalize_handwriting(images))
    np.testing.assert_array_equal(normalize_images(images, "moments"), normalize_moments(images))


def _ink_covariance(image):
    level = image[..., 0].astype(np.float64)
    y, x = np.mgrid[:image.shape[0], :image.shape[1]] + 0.5
    mass = level.sum()
    mx, my = (level * x).sum() / mass, (level * y).sum() / mass
    return np.array([[(level * (x - mx) ** 2).sum(), (level * (x - mx) * (y - my)).sum()],
                     [(level * (x - mx) * (y - my)).sum(), (level * (y - my) ** 2).sum()]]) / mass


def test_affine_whitens_a_stretched_sheared_shape_and_keeps_its_rotation():
    size = 64
    y, x = np.mgrid[:size, :size] + 0.5
    # A 2:1 ellipse tilted by 30 degrees, off centre: whitening must make it a centred circle.
    u, v = x - 22, y - 40
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    ellipse = (((c * u + s * v) / 14) ** 2 + ((-s * u + c * v) / 7) ** 2 < 1).astype(np.uint8)[..., None] * 255
    out = normalize_images(ellipse[None], "affine")[0]
    covariance = _ink_covariance(out)
    radius = RADIUS_FRACTION * size
    np.testing.assert_allclose(covariance, np.eye(2) * radius ** 2 / 2, atol=0.06 * radius ** 2)
    square = _square(size, 16, np.pi / 8, (30, 34))
    turned = normalize_images(square[None], "affine")[0]
    # An isotropic shape is only re-centred and rescaled: it keeps its orientation.
    np.testing.assert_allclose(_ink_covariance(turned), np.eye(2) * radius ** 2 / 2, atol=0.06 * radius ** 2)
    assert np.corrcoef(turned[..., 0].ravel(), normalize_moments(square[None])[0, ..., 0].ravel())[0, 1] > 0.97
