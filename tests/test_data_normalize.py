"""Normalisation: by the bounding box (as MNIST) or by moments (centre of mass, RMS radius), after bringing
every image to bright ink on black whatever its ground."""

import dataclasses

import numpy as np
import pytest

from jointvae_tf.data import procedural
from jointvae_tf.data.normalize import (
    RADIUS_FRACTION,
    SILHOUETTE_CLOSING,
    content_boxes,
    fill_silhouettes,
    ink_on_black,
    normalize_handwriting,
    normalize_images,
    normalize_moments,
)


def test_content_boxes_are_the_ink_bounding_boxes():
    images = np.zeros((2, 32, 32, 1), np.uint8)
    images[0, 2:6, 3:11] = 200
    images[0, 20, 20] = 40  # faint: below the threshold
    np.testing.assert_array_equal(content_boxes(images), [[2, 3, 6, 11], [0, 0, 0, 0]])


def test_ink_is_what_lies_above_thirty_percent_of_the_brightest_pixel():
    images = np.zeros((2, 32, 32, 1), np.uint8)
    images[0, 10:20, 10:20] = 250
    images[0, 2, 2], images[0, 28, 28] = 75, 76  # exactly 30 % of the peak: background; just above: ink
    images[1, 5:9, 6:8] = 1  # a 0/1 mask: dim, but not blank
    np.testing.assert_array_equal(content_boxes(images), [[10, 10, 29, 29], [5, 6, 9, 8]])


def test_off_centre_bars_land_centred_in_the_inner_box():
    images = np.zeros((2, 64, 64, 1), np.uint8)
    images[0, 4:12, 40:56] = 255  # 8 x 16, top right
    images[1, 40:60, 2:12] = 255  # 20 x 10, bottom left
    (top, left, bottom, right), tall = content_boxes(normalize_handwriting(images))
    assert abs(left - 8) <= 1 and abs(right - 56) <= 1  # longer side: 48 of 64, centred
    assert abs(top - 20) <= 1 and abs(bottom - 44) <= 1  # aspect kept: 24 tall
    assert np.all(np.abs(tall - [8, 20, 56, 44]) <= 1)  # 48 tall, 24 wide


def test_full_ink_keeps_its_level_and_the_background_stays_black():
    images = np.zeros((1, 64, 64, 1), np.uint8)
    images[0, 20:44, 16:40] = 255
    for method in ("box", "moments", "affine"):
        out = normalize_images(images, method)[0, ..., 0]
        assert out[32, 32] == 255 and out[0, 0] == 0 and out.max() == 255, method


@pytest.mark.parametrize("method", ["box", "moments", "affine", "silhouette"])
def test_blank_images_stay_blank_and_rgb_keeps_its_shape(method):
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[1, 10:14, 10:30, 0] = 255
    out = normalize_images(images, method)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not out[0].any() and out[1, ..., 0].any() and not out[1, ..., 1].any()


def test_a_single_dot_has_no_size_to_scale_so_moments_leave_it_as_it_is():
    images = np.zeros((1, 32, 32, 1), np.uint8)
    images[0, 5, 20] = 255  # a decimal point on its own: RMS radius 0
    np.testing.assert_array_equal(normalize_moments(images), images)


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


def _ink_centre_and_radius(image):
    """(y, x) centre of mass and RMS radius of the pixels above half the peak of ``image`` ``[H, W, 1]``."""
    level = np.where(image[..., 0] > image.max() / 2, image[..., 0], 0).astype(np.float64)
    y, x = np.mgrid[:image.shape[0], :image.shape[1]] + 0.5
    cy, cx = (level * y).sum() / level.sum(), (level * x).sum() / level.sum()
    return cy, cx, np.sqrt((level * ((y - cy) ** 2 + (x - cx) ** 2)).sum() / level.sum())


@pytest.mark.parametrize("method", ["moments", "affine"])
def test_moments_weigh_the_ink_by_its_level(method):
    # A stroke pressed hard at its left end and lightly at its right (every level above 30 % of the peak, so
    # all ink): its centre of mass lies left of the middle of the stroke, and that is what lands in the centre.
    stroke = np.zeros((1, 64, 64, 1), np.uint8)
    stroke[0, 20:27, 10:40, 0] = np.linspace(255, 90, 30).astype(np.uint8)
    out = normalize_images(stroke, method)[0, ..., 0].astype(np.float64)
    y, x = np.mgrid[:64, :64] + 0.5
    np.testing.assert_allclose([(out * y).sum() / out.sum(), (out * x).sum() / out.sum()], [32, 32], atol=0.6)


@pytest.mark.parametrize("method", ["moments", "affine"])
def test_faint_background_below_the_threshold_does_not_move_or_resize_the_drawing(method):
    clean = np.stack([_square(64, 12, 0.0, (14, 40)) // 255 * 250, _square(64, 16, 0.5, (40, 24)) // 255 * 250])
    paper = np.random.default_rng(0).integers(0, 76, clean.shape).astype(np.uint8)  # up to 30 % of 250
    scanned = np.maximum(clean, paper)
    for expected, got in zip(normalize_images(clean, method), normalize_images(scanned, method)):
        np.testing.assert_allclose(_ink_centre_and_radius(got), _ink_centre_and_radius(expected), atol=0.3)


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
    np.testing.assert_allclose(_ink_centre_and_radius(out)[:2], [32, 32], atol=0.5)
    square = _square(size, 16, np.pi / 8, (30, 34))
    turned = normalize_images(square[None], "affine")[0]
    # An isotropic shape is only re-centred and rescaled: it keeps its orientation.
    np.testing.assert_allclose(_ink_covariance(turned), np.eye(2) * radius ** 2 / 2, atol=0.06 * radius ** 2)
    assert np.corrcoef(turned[..., 0].ravel(), normalize_moments(square[None])[0, ..., 0].ravel())[0, 1] > 0.97


@pytest.mark.parametrize("angle", [0.0, np.pi / 6])
def test_affine_turns_a_one_pixel_stroke_into_a_centred_bar_along_its_direction(angle):
    size = 64
    y, x = np.mgrid[:size, :size] + 0.5
    # A thin straight stroke (the minus sign, a "1"): no width to whiten, the map must still be invertible.
    u, v = x - 20.5, y - 24.5
    along, across = np.cos(angle) * u + np.sin(angle) * v, -np.sin(angle) * u + np.cos(angle) * v
    stroke = ((np.abs(along) < 12) & (np.abs(across) < 0.5)).astype(np.uint8)[..., None] * 255
    out = normalize_images(stroke[None], "affine")[0]
    covariance = _ink_covariance(out)
    values, vectors = np.linalg.eigh(covariance)
    assert values[1] > 1.2 * values[0] > 0  # ink, longer than wide (the stroke widens: width is not whitened away)
    assert abs(np.dot(vectors[:, 1], [np.cos(angle), np.sin(angle)])) > 0.95  # along the stroke
    np.testing.assert_allclose(_ink_centre_and_radius(out)[:2], [32, 32], atol=0.5)


def _star_coverage(size=32):
    """A procedural star's ink coverage in [0, 1], off centre and turned, ``[size, size]`` float."""
    params = procedural.sample_shapes(1, np.random.default_rng(4), shapes=(2,))
    params = dataclasses.replace(params, brightness=np.ones(1, np.float32), noise=np.zeros(1, np.float32),
                                 x=np.float32([0.25]), y=np.float32([-0.2]), scale=np.float32([0.45]))
    return procedural.render_shapes(params, size)[0, ..., 0].astype(np.float32) / 255


def _drawn(coverage, ground, ink):
    """``coverage`` drawn with ``ink`` on ``ground`` (grey levels, scalars or ``[H, W]``), uint8 ``[1, H, W, 1]``."""
    return np.clip(ground + (ink - ground) * coverage + 0.5, 0, 255).astype(np.uint8)[None, ..., None]


@pytest.mark.parametrize("method", ["box", "moments", "affine", "silhouette"])
def test_grey_and_light_grounds_and_dark_ink_normalise_like_white_on_black(method):
    star = _star_coverage()
    texture = 12 * np.sin(np.arange(32)[:, None] / 3.0) * np.cos(np.arange(32)[None, :] / 4.0)  # paper grain
    reference = normalize_images(_drawn(star, 0.0, 255.0), method)[0, ..., 0].astype(np.float32)
    for ground, ink in [(100.0, 255.0), (255.0, 0.0), (220.0 + texture, 0.0)]:
        out = normalize_images(_drawn(star, ground, ink), method)[0, ..., 0].astype(np.float32)
        assert np.abs(out - reference).mean() < 6  # grey levels of 255, averaged over the frame
        assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.97


def test_ink_on_black_flips_dark_ink_and_keeps_white_on_black_images():
    star = _star_coverage()
    flipped = ink_on_black(_drawn(star, 255.0, 0.0))
    np.testing.assert_array_equal(flipped, _drawn(star, 0.0, 255.0))
    raised = ink_on_black(_drawn(star, 100.0, 255.0))
    assert np.abs(raised.astype(int) - _drawn(star, 0.0, 255.0)).max() <= 1
    faint_ground = _drawn(star, 10.0, 200.0)  # within 5 % of black: already bright ink on black
    np.testing.assert_array_equal(ink_on_black(faint_ground), faint_ground)
    rendered = procedural.render_split("test", 64, 32).images  # noisy, dim and bright strokes on black
    np.testing.assert_array_equal(ink_on_black(rendered), rendered)


def _styled_stars(size=64):
    """One star (off centre, turned) drawn filled, as a 3 px outline, as an outline with a hatched fill, and
    as an outline with a 1 px gap: uint8 ``[4, size, size, 1]``, and its filled coverage ``[size, size]``."""
    params = procedural.sample_shapes(1, np.random.default_rng(4), shapes=(2,))
    params = dataclasses.replace(params, brightness=np.ones(1, np.float32), noise=np.zeros(1, np.float32),
                                 x=np.float32([0.2]), y=np.float32([-0.15]), scale=np.float32([0.6]))
    filled = procedural.render_shapes(params, size)[0, ..., 0].astype(np.float32) / 255
    outlined = dataclasses.replace(params, filled=np.zeros(1, np.float32), thickness=np.float32([0.1]))
    outline = procedural.render_shapes(outlined, size)[0, ..., 0].astype(np.float32) / 255
    stripes = (np.add.outer(np.arange(size), np.arange(size)) % 6 < 2).astype(np.float32)
    hatched = np.maximum(outline, filled * stripes)
    broken = outline.copy()
    rows, cols = np.nonzero(outline > 0.5)
    broken[rows[len(rows) // 2], :] = 0  # one row of the stroke cut away: a gap a pixel wide
    images = np.stack([_drawn(c, 0.0, 255.0)[0] for c in (filled, outline, hatched, broken)])
    return images, filled


def test_fill_silhouettes_makes_outlines_and_hatched_fills_solid():
    images, filled = _styled_stars()
    figures = fill_silhouettes(images)[..., 0] > 0
    solid = filled > 0.5
    for figure, style in zip(figures, ("filled", "outline", "hatched", "outline with a gap")):
        assert (figure != solid).mean() < 0.02, style  # the star's own pixels, its notches left empty
    # The same star in dim ink, or as a 0/1 mask (as dSprites stores its shapes): the same full-brightness figure.
    for faint in (images[:1] // 3, (images[:1] > 0.3 * 255).astype(np.uint8)):
        np.testing.assert_array_equal(fill_silhouettes(faint), fill_silhouettes(images[:1]))
    assert fill_silhouettes(images[:1]).max() == 255
    assert not fill_silhouettes(np.zeros((1, 32, 32, 1), np.uint8)).any()


def test_silhouette_normalisation_draws_every_style_as_the_same_figure():
    images, _ = _styled_stars()
    out = normalize_images(images, "silhouette")[..., 0].astype(np.float32)
    for styled in out[1:]:
        assert np.abs(styled - out[0]).mean() < 6
    affine = normalize_images(images, "affine")[..., 0].astype(np.float32)
    assert np.abs(affine[1] - affine[0]).mean() > 20  # without the fill an outline stays an outline


def test_ink_on_black_reads_each_image_of_a_batch_on_its_own_ground():
    star = _star_coverage()
    paper, on_black, on_grey = _drawn(star, 230.0, 20.0), _drawn(star, 10.0, 200.0), _drawn(star, 100.0, 255.0)
    empty = np.full_like(on_black, 6)  # an empty frame, near black
    batch = np.concatenate([paper, on_black, on_grey, on_grey, empty])
    out = ink_on_black(batch)
    for i, image in enumerate(batch):
        np.testing.assert_array_equal(out[i], ink_on_black(image[None])[0])
    np.testing.assert_array_equal(out[1], on_black[0])  # a ground within 5 % of black is kept, whatever the rest
    np.testing.assert_array_equal(out[4], empty[0])
    assert out[0, star > 0.99].min() > 225 and out[0, star == 0].max() == 0  # dark ink on paper flipped


def test_ink_on_black_flips_faint_pencil_on_paper():
    images, filled = _styled_stars()
    outline = images[1, ..., 0].astype(np.float32) / 255
    pencil = _drawn(outline, 205.0, 195.0)  # a faint thin stroke: 10 grey levels darker than the paper
    out = ink_on_black(pencil)[0, ..., 0]
    assert out[outline == 0].max() == 0
    assert out[outline > 0.99].min() >= 12  # the stroke comes out brighter than the ground
    assert fill_silhouettes(ink_on_black(pencil))[0, ..., 0][filled > 0.5].mean() > 250


def _photographed_pages(coverage, count=12):
    """``coverage`` drawn in dark ink (level 40) on paper photographed under a lamp: the light falls off by 55
    grey levels from one corner to the opposite one (the corner turns from page to page), with paper grain
    of sd 3 levels: uint8 ``[count, H, W, 1]``."""
    size = coverage.shape[0]
    y, x = np.mgrid[:size, :size] / (size - 1)
    light = 230.0 - 30 * x - 25 * y
    grain = np.random.default_rng(0).normal(0.0, 3.0, (count, size, size))
    return np.concatenate([_drawn(coverage, np.rot90(light, k) + grain[k], 40.0) for k in range(count)])


def test_ink_on_black_takes_the_median_of_the_frame_as_the_ground_of_an_unevenly_lit_page():
    star = _star_coverage()
    pages = _photographed_pages(star)
    frame = np.ones(star.shape, bool)
    frame[1:-1, 1:-1] = False  # the outermost rows and columns
    out = ink_on_black(pages)
    for page, converted in zip(pages[..., 0], out[..., 0]):
        # The paper at least as bright as its frame's median is black; every darker pixel is ink, however
        # little darker (half a grey level is stretched to at least one).
        np.testing.assert_array_equal(converted == 0, page >= np.median(page[frame]))
        assert converted[star > 0.99].min() > 2 * converted[star == 0].max()  # the ink outshines the shadowed paper
    np.testing.assert_array_equal(content_boxes(out), np.repeat(content_boxes(_drawn(star, 0.0, 255.0)), len(out), 0))


def test_ink_on_black_takes_a_dark_coloured_ground_to_black_in_every_channel():
    star = _star_coverage()
    navy = np.stack([_drawn(star, ground, 255.0)[..., 0] for ground in (10.0, 12.0, 80.0)], axis=-1)  # chalk on navy
    out = ink_on_black(navy)[0]
    assert out[star == 0].max() == 0
    assert out[star > 0.99].min() >= 250


def _arch(size=32):
    """A 2 px stroke drawn as three sides of a rectangle whose open side lies on the frame's top edge (a
    drawing cropped by the frame): uint8 ``[size, size]``, 255 on the stroke."""
    arch = np.zeros((size, size), np.uint8)
    arch[:20, 8:10] = arch[:20, 22:24] = arch[18:20, 8:24] = 255
    return arch


def test_fill_silhouettes_leaves_open_what_a_drawing_cut_by_the_frame_does_not_enclose():
    arch = _arch()
    images = np.stack([np.rot90(arch, k) for k in range(4)])[..., None]  # open to the top, left, bottom, right
    figures = fill_silhouettes(images)[..., 0] > 0
    for figure, image in zip(figures, images[..., 0]):
        assert (figure != (image > 0)).sum() < 8  # the stroke, with at most its corners rounded off
    for k, figure in enumerate(figures):
        assert not np.rot90(figure, -k)[5:15, 12:20].any()  # the open inside stays ground


@pytest.mark.parametrize("pen", [1, 2])
def test_fill_silhouettes_leaves_the_ground_between_a_drawing_and_the_frame_open_however_thin(pen):
    # A box drawn tight in its frame, two pixels from each edge, its sides overshooting the corners and
    # running off the frame: the strips between the box and the edges touch the frame, so they are ground,
    # though the closing narrows them to one pixel and the overshoots cut each off from the others.
    size = 32
    box = np.zeros((size, size), np.uint8)
    for at in (2, size - 2 - pen):
        box[at:at + pen, :] = box[:, at:at + pen] = 255
    figure = fill_silhouettes(box[None, ..., None])[0, ..., 0] > 0
    expected = box > 0
    expected[2:-2, 2:-2] = True
    np.testing.assert_array_equal(figure, expected)


def test_fill_silhouettes_closes_a_two_pixel_gap_in_a_diagonal_stroke():
    size = 32
    rows, cols = np.mgrid[:size, :size]
    diamond = (np.abs(rows - 15) + np.abs(cols - 15) == 10)  # a 1 px pen, its strokes diagonal
    diamond[19:21, 9:11] = False  # two pixels of one side missing: (19, 9) and (20, 10)
    images = (255 * diamond).astype(np.uint8)[None, ..., None]
    figure = fill_silhouettes(images)[0, ..., 0] > 0
    inside = np.abs(rows - 15) + np.abs(cols - 15) < 10
    assert figure[inside].mean() > 0.98  # filled, with at most a notch where the gap was
    assert not figure[np.abs(rows - 15) + np.abs(cols - 15) > 11].any()


def test_fill_silhouettes_keeps_each_drawings_hue_at_full_brightness():
    images, filled = _styled_stars()
    outline = images[1, ..., 0].astype(np.float32) / 255
    red = np.stack([_drawn(outline, 0.0, level)[0, ..., 0] for level in (200.0, 40.0, 20.0)], axis=-1)
    grey = np.repeat(images[1] // 2, 3, axis=-1)  # the same outline in dim grey, in the same batch
    figures = fill_silhouettes(np.stack([red, grey]))
    inside = filled > 0.99
    np.testing.assert_array_equal(figures[0][inside], np.broadcast_to([255, 51, 26], (inside.sum(), 3)))
    np.testing.assert_array_equal(figures[1][inside], 255)
    assert not figures[:, filled == 0].any()


@pytest.mark.parametrize("method", ["moments", "affine", "silhouette"])
def test_a_smudge_at_thirty_percent_of_the_ink_level_does_not_move_or_resize_the_drawing(method):
    clean = (_square(64, 16, 0.3, (40, 38)) // 255 * 250)[None]
    smudged = clean.copy()
    smudged[0, 4:12, 4:12] = 75  # a pencil smudge at exactly 30 % of the ink's level: ground, not ink
    expected, got = normalize_images(clean, method)[0], normalize_images(smudged, method)[0]
    np.testing.assert_allclose(_ink_centre_and_radius(got), _ink_centre_and_radius(expected), atol=0.3)


def test_fill_silhouettes_encloses_what_a_pixel_by_pixel_flood_from_the_border_cannot_reach():
    rng = np.random.default_rng(3)
    walls = rng.random((40, 24, 24)) < rng.uniform(0.15, 0.6, (40, 1, 1))  # mazes of every density
    images = np.where(walls, 255, 0).astype(np.uint8)[..., None]
    ink = walls
    for _ in range(SILHOUETTE_CLOSING):  # the closing's dilation, as fill_silhouettes does it
        grown = ink.copy()
        for dy, dx in [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]:
            grown |= np.roll(np.pad(ink, ((0, 0), (1, 1), (1, 1))), (dy, dx), (1, 2))[:, 1:-1, 1:-1]
        ink = grown
    outside = np.zeros_like(ink)
    for n, y, x in zip(*np.nonzero(~ink)):
        if y in (0, 23) or x in (0, 23):
            outside[n, y, x] = True
    stack = list(zip(*np.nonzero(outside)))
    while stack:  # breadth of a plain 4-connected flood, one pixel at a time
        n, y, x = stack.pop()
        for v, u in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= v < 24 and 0 <= u < 24 and not ink[n, v, u] and not outside[n, v, u]:
                outside[n, v, u] = True
                stack.append((n, v, u))
    figure = ~outside
    for _ in range(SILHOUETTE_CLOSING):  # eroded back by as many pixels
        grown = ~figure
        for dy, dx in [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]:
            grown |= np.roll(np.pad(~figure, ((0, 0), (1, 1), (1, 1))), (dy, dx), (1, 2))[:, 1:-1, 1:-1]
        figure = ~grown
    np.testing.assert_array_equal(fill_silhouettes(images)[..., 0] > 0, figure)
