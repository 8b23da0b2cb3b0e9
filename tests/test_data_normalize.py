"""Handwriting normalisation crops to the ink, keeps the aspect ratio and centres it in 3/4 of the frame."""

import numpy as np

from jointvae_tf.data.normalize import content_boxes, normalize_handwriting


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
