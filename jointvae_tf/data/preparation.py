"""A run's image preparation, for one image from outside: in numpy, and as TensorFlow ops for an export.

The training images of a run were read (:func:`~jointvae_tf.data.image_files.read_image`: grey or RGB,
16-bit grey at its range, transparency over white), fitted to ``supersample`` times the model's
side (:func:`~jointvae_tf.data.resize.fit_images`: padding, or PIL's antialiased bilinear filter),
normalised (:func:`~jointvae_tf.data.normalize.normalize_images`; not for ``none``) and, when
supersampled, halved. :func:`prepare_file` / :func:`prepare_pixels` apply that in numpy.

:func:`prepare_in_graph` and :func:`decode_in_graph` are the same steps as TensorFlow ops (no Python, no
XLA), so that an exported model prepares raw image files itself inside TensorFlow Serving. They follow
the numpy code operation by operation: decoding, grey levels, padding, PIL's fixed-point resampling, ink
thresholds, boxes and halving give the same integers; the ink's moments and the warp agree to float
rounding (sums taken in another order), which moves a prepared pixel by at most a grey level or so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from jointvae_tf.core.config import NORMALIZATIONS
from jointvae_tf.data import normalize
from jointvae_tf.data.image_files import MAX_IMAGE_PIXELS, read_image
from jointvae_tf.data.resize import PAD_LIMIT, fit_images, halve
from jointvae_tf.errors import ConfigError

_PRECISION_BITS = 22
"""Fraction bits of PIL's fixed-point resampling coefficients for 8-bit images (32 - 8 - 2)."""
_LUMA_FIXED = (19595, 38470, 7471)
"""PIL's ITU-R 601 grey level, ``(19595 R + 38470 G + 7471 B + 2^15) >> 16``."""


@dataclasses.dataclass(frozen=True)
class Preparation:
    """How a run's images were prepared: ``image_size`` x ``image_size`` x ``channels`` uint8, normalised by
    ``normalize`` (one of :data:`~jointvae_tf.core.config.NORMALIZATIONS`) at ``supersample`` (1 or 2)
    times the side, then halved when 2."""

    image_size: int
    channels: int
    normalize: str = "none"
    supersample: int = 1

    def __post_init__(self):
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError("normalize", f"expected one of {', '.join(NORMALIZATIONS)}, got {self.normalize!r}")
        if self.supersample not in (1, 2):
            raise ConfigError("supersample", f"expected 1 or 2, got {self.supersample}")
        if self.channels not in (1, 3):
            raise ConfigError("channels", f"expected 1 or 3, got {self.channels}")

    @property
    def fitted_size(self) -> int:
        """The side images are fitted to before normalisation, in pixels."""
        return self.image_size * self.supersample


def finish(images: np.ndarray, preparation: Preparation) -> np.ndarray:
    """uint8 ``[N, S, S, C]`` fitted to ``preparation.fitted_size`` -> uint8 ``[N, size, size, C]``: normalised
    and, when supersampled, halved."""
    if preparation.normalize != "none":
        images = normalize.normalize_images(images, preparation.normalize)
    return halve(images) if preparation.supersample == 2 else images


def prepare_pixels(pixels: np.ndarray, preparation: Preparation) -> np.ndarray:
    """uint8 ``[N, h, w, c]`` (c = 1 or 3) -> uint8 ``[N, size, size, channels]`` as the run's images were
    prepared (see the module docstring)."""
    return finish(fit_images(pixels, preparation.fitted_size, preparation.channels), preparation)


def prepare_file(data: bytes, preparation: Preparation) -> np.ndarray:
    """uint8 ``[size, size, channels]`` of the bytes of one image file, prepared as the run's images were."""
    return prepare_pixels(read_image(data, preparation.channels, "image")[None], preparation)[0]


def decode_in_graph(data: tf.Tensor, channels: int) -> tf.Tensor:
    """uint8 ``[h, w, channels]`` of a scalar string holding a PNG, JPEG or BMP file, as
    :func:`~jointvae_tf.data.image_files.read_image` reads it: 16-bit grey scaled from 0..65535, other
    16-bit images by their high byte, transparency (alpha, a palette's transparent entries, a PNG's
    colour key, a BMP's alpha bit field) composited over white, grey by PIL's fixed-point luma; at most
    :data:`~jointvae_tf.data.image_files.MAX_IMAGE_PIXELS` pixels, checked from the header before
    decoding. JPEGs are decoded with the accurate integer DCT and fancy upsampling, as PIL's libjpeg
    (CMYK ones as Adobe's inverted CMYK, to RGB within a grey level of PIL's conversion).

    A BMP that TensorFlow's decoder would read otherwise than PIL fails an assertion naming its layout
    (see :func:`_decode_bmp`) rather than giving the pixels of another image.
    """
    png = tf.equal(tf.strings.substr(data, 0, 8), b"\x89PNG\r\n\x1a\n")
    jpeg = tf.io.is_jpeg(data)
    bmp = tf.equal(tf.strings.substr(data, 0, 2), b"BM")
    known = tf.debugging.Assert(png | jpeg | bmp, ["images_bytes: not a PNG, JPEG or BMP file"])
    with tf.control_dependencies([known]):
        width, height = tf.case([(png, lambda: _png_size(data)), (jpeg, lambda: _jpeg_size(data))],
                                default=lambda: _bmp_size(data))
    small = tf.debugging.Assert(width * height <= MAX_IMAGE_PIXELS,
                                ["images_bytes: an image of", width, "x", height, "pixels is over the limit of",
                                 MAX_IMAGE_PIXELS, "pixels; expected a smaller picture"])
    with tf.control_dependencies([small]):
        image = tf.case([(png, lambda: _decode_png(data)),
                         (jpeg, lambda: tf.io.decode_jpeg(data, channels=0, dct_method="INTEGER_ACCURATE"))],
                        default=lambda: _decode_bmp(data))
    bands = tf.shape(image)[-1]
    rgb = tf.cond(bands >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3]))
    rgb = tf.cond(bands % 2 == 0, lambda: _over_white(rgb, image[..., -1:]), lambda: rgb)
    if channels == 3:
        return rgb
    return tf.cond(bands == 1, lambda: image, lambda: _luma_fixed(rgb))


def _png_size(data):
    return _unsigned(data, 16, 4, big_endian=True), _unsigned(data, 20, 4, big_endian=True)


def _jpeg_size(data):
    shape = tf.cast(tf.io.extract_jpeg_shape(data), tf.int64)
    return shape[1], shape[0]


def _bmp_size(data):
    size = tf.io.decode_raw(tf.strings.substr(data, 18, 8), tf.int32, little_endian=True)
    return tf.abs(tf.cast(size[0], tf.int64)), tf.abs(tf.cast(size[1], tf.int64))


def _unsigned(data: tf.Tensor, offset, size: int, big_endian: bool = False) -> tf.Tensor:
    """int64 of the ``size``-byte unsigned integer at byte ``offset`` of ``data`` (0 past its end)."""
    offset = tf.minimum(tf.cast(offset, tf.int64), tf.cast(tf.strings.length(data), tf.int64))
    found = tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, size), tf.uint8), tf.int64)
    found = tf.pad(found, [[0, size - tf.shape(found)[0]]])
    powers = [1 << (8 * k) for k in range(size)]
    return tf.reduce_sum(found * tf.constant(powers[::-1] if big_endian else powers, tf.int64))


def _decode_png(data: tf.Tensor) -> tf.Tensor:
    """uint8 ``[h, w, c]`` of a PNG: one band (grey) at its range (16 bits / 257, rounded), others by their
    high byte, as PIL reads 16-bit colour; a grey or RGB image with a colour key (a ``tRNS`` chunk) gains
    an alpha band, 0 where the key matches (:func:`_colour_key_alpha`)."""
    wide = tf.io.decode_png(data, channels=0, dtype=tf.uint16)
    grey = tf.cast(tf.floor(tf.cast(wide, tf.float64) / 257.0 + 0.5), tf.uint8)
    image = tf.cond(tf.shape(wide)[-1] == 1, lambda: grey, lambda: tf.cast(tf.bitwise.right_shift(wide, 8), tf.uint8))
    key = _png_colour_key(data)
    depth, colour_type = _unsigned(data, 24, 1), _unsigned(data, 25, 1)
    # PIL reads a 16-bit grey image's pixels without its key (``I;16``), as the package's reader does.
    keyed = (tf.strings.length(key) > 0) & ((colour_type == 2) | ((colour_type == 0) & (depth < 16)))
    return tf.cond(keyed, lambda: tf.concat([image, _colour_key_alpha(image, key, depth)], -1), lambda: image)


def _png_colour_key(data: tf.Tensor) -> tf.Tensor:
    """The data of the PNG's ``tRNS`` chunk (``""`` when it has none before its pixels), found by walking
    its chunks: each is a 4-byte big-endian length, a 4-byte type, the data and a 4-byte checksum."""
    end = tf.cast(tf.strings.length(data), tf.int64)

    def walking(offset, key, done):
        return tf.logical_not(done) & (offset + 8 <= end)

    def step(offset, key, done):
        length, kind = _unsigned(data, offset, 4, big_endian=True), tf.strings.substr(data, offset + 4, 4)
        found = tf.equal(kind, "tRNS")
        key = tf.where(found, tf.strings.substr(data, tf.minimum(offset + 8, end), tf.minimum(length, 6)), key)
        return offset + length + 12, key, found | tf.equal(kind, "IDAT") | tf.equal(kind, "IEND")

    start = tf.constant(8, tf.int64)  # after the signature
    return tf.while_loop(walking, step, [start, tf.constant(""), tf.constant(False)])[1]


def _colour_key_alpha(image: tf.Tensor, key: tf.Tensor, depth: tf.Tensor) -> tf.Tensor:
    """uint8 alpha ``[h, w, 1]``: 0 where the 8-bit pixels of ``image`` ``[h, w, c]`` (c = 1 or 3) equal the
    colour key ``key`` (a ``tRNS`` chunk's data: one 16-bit value per band), 255 elsewhere.

    As PIL's ``convert_transparent`` matches it: against each key value's low byte, except for a 1-bit
    image, whose key (0 or 1) means black or white. So a 16-bit RGB key matches the high bytes of the
    pixels when its two bytes are equal (a key written for 8-bit values, as encoders do).
    """
    values = tf.cast(tf.io.decode_raw(tf.strings.substr(key + "\0" * 6, 0, 6), tf.uint8), tf.int32)
    low = values[1::2][:tf.shape(image)[-1]]
    one_bit = tf.fill(tf.shape(low), tf.where((values[0] | values[1]) > 0, 255, 0))
    matches = tf.reduce_all(tf.cast(image, tf.int32) == tf.where(depth == 1, one_bit, low), axis=-1, keepdims=True)
    return tf.cast(tf.where(matches, 0, 255), tf.uint8)


def _decode_bmp(data: tf.Tensor) -> tf.Tensor:
    """uint8 ``[h, w, c]`` of a BMP whose layout TensorFlow's decoder reads as PIL does: 24 bits, 32 bits
    (PIL ignores the fourth byte unless a bit field names it alpha: then it is kept, for compositing),
    or 8 bits through a grey palette; others (colour palettes, 1, 4 or 16 bits, run-length compression,
    bit fields in another order) fail an assertion that names their layout and asks for a PNG."""
    header, bits, compression = _unsigned(data, 14, 4), _unsigned(data, 28, 2), _unsigned(data, 30, 4)
    masks = [_unsigned(data, 54 + 4 * k, 4) for k in range(3)]
    alpha_mask = tf.where(header >= 56, _unsigned(data, 66, 4), tf.constant(0, tf.int64))  # shorter headers have no alpha field
    bgr = tf.reduce_all(tf.stack(masks) == [0xFF0000, 0xFF00, 0xFF])
    no_masks = tf.reduce_all(tf.stack(masks + [alpha_mask]) == 0)
    fields = compression == 3
    plain = ((compression == 0) & ((bits == 24) | (bits == 32))) | (fields & bgr & ((bits == 24) | (
        (bits == 32) & (alpha_mask == 0))))
    with_alpha = fields & (bits == 32) & ((bgr & (alpha_mask == 0xFF000000)) | no_masks)
    grey = (compression == 0) & (bits == 8) & _grey_palette(data, header)
    # Short, so that it survives clients' one-line cuts of a server's message.
    readable = tf.debugging.Assert(plain | with_alpha | grey, [
        "images_bytes: BMP layout not decoded in the graph, send PNG: bits", bits, "compression", compression])
    with tf.control_dependencies([readable]):
        image = tf.io.decode_bmp(data, channels=0)
    return tf.cond(with_alpha | grey, lambda: image, lambda: image[..., :3])


def _grey_palette(data: tf.Tensor, header: tf.Tensor) -> tf.Tensor:
    """Whether an 8-bit BMP's palette (after the header; 4 bytes B, G, R, 0 per entry) maps each index to
    the grey level of the same value, so that its indices are its pixels."""
    colours = _unsigned(data, 46, 4)
    colours = tf.where((colours == 0) | (colours > 256), tf.constant(256, tf.int64), colours)
    start = tf.minimum(14 + header, tf.cast(tf.strings.length(data), tf.int64))
    entries = tf.io.decode_raw(tf.strings.substr(data, start, 4 * colours), tf.uint8)
    entries = tf.reshape(tf.cast(entries, tf.int64)[:4 * colours], [-1, 4])[:, :3]
    return (tf.shape(entries, out_type=tf.int64)[0] == colours) & tf.reduce_all(
        entries == tf.range(tf.shape(entries, out_type=tf.int64)[0])[:, None])


def _over_white(rgb: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """uint8 RGB ``[h, w, 3]`` with ``alpha`` ``[h, w, 1]`` composited over opaque white, in the integer
    arithmetic of PIL's ``alpha_composite`` (its vectorised path)."""
    a = tf.cast(alpha, tf.int32)
    mixed = tf.cast(rgb, tf.int32) * a + 255 * (255 - a) + 128
    return tf.cast(tf.bitwise.right_shift(mixed + tf.bitwise.right_shift(mixed, 8), 8), tf.uint8)


def prepare_in_graph(image: tf.Tensor, preparation: Preparation, from_file: bool = True) -> tf.Tensor:
    """uint8 ``[h, w, c]`` -> uint8 ``[size, size, channels]``, the TensorFlow ops of :func:`prepare_file`
    (``from_file``: ``image`` came from :func:`decode_in_graph`) or of :func:`prepare_pixels` (c = 1 or 3).

    Raw pixels with other channels than the model's go through :func:`~jointvae_tf.data.resize.to_channels`'s
    float luma, image files through PIL's fixed-point one (in :func:`decode_in_graph`).
    """
    if not from_file and preparation.channels == 1:
        image = tf.cond(tf.shape(image)[-1] == 3, lambda: _luma_float(image), lambda: image[..., :1])
    elif not from_file:
        image = tf.cond(tf.shape(image)[-1] == 1, lambda: tf.tile(image, [1, 1, 3]), lambda: image)
    image.set_shape([None, None, preparation.channels])
    size = preparation.fitted_size
    image = _pad_towards(image, size)
    fits = tf.reduce_all(tf.shape(image)[:2] == size)
    image = tf.cond(fits, lambda: image, lambda: _resize_like_pil(image, size))
    image = tf.ensure_shape(image, [size, size, preparation.channels])
    if preparation.normalize != "none":
        image = _normalize(image, preparation.normalize)
    if preparation.supersample == 2:
        blocks = tf.reshape(tf.cast(image, tf.float32), [size // 2, 2, size // 2, 2, preparation.channels])
        image = _to_uint8(tf.reduce_mean(blocks, axis=[1, 3]) + 0.5)
    return image


def _luma_fixed(rgb: tf.Tensor) -> tf.Tensor:
    weights = tf.constant(_LUMA_FIXED, tf.int32)
    level = tf.reduce_sum(tf.cast(rgb, tf.int32) * weights, axis=-1, keepdims=True) + (1 << 15)
    return tf.cast(tf.bitwise.right_shift(level, 16), tf.uint8)


def _luma_float(rgb: tf.Tensor) -> tf.Tensor:
    level = tf.tensordot(tf.cast(rgb, tf.float32), tf.constant([0.299, 0.587, 0.114], tf.float32), 1)
    return _to_uint8(level + 0.5)[..., None]


def _to_uint8(levels: tf.Tensor) -> tf.Tensor:
    """float levels -> uint8, truncated after clipping to [0, 255] (numpy's ``clip(...).astype(uint8)``)."""
    return tf.cast(tf.clip_by_value(levels, 0.0, 255.0), tf.uint8)


def _pad_towards(image: tf.Tensor, size: int) -> tf.Tensor:
    """:func:`~jointvae_tf.data.resize._pad_towards` of one image ``[h, w, c]``."""
    sides = tf.shape(image)[:2]
    powers = tf.constant([1 << k for k in range(1, 31)], tf.int32)
    paddings = []
    for axis in (0, 1):
        side = sides[axis]
        target = tf.reduce_min(tf.where(powers >= side, powers, powers[-1]))
        pad = tf.logical_and(side < target, target <= size)
        pad = tf.logical_and(pad, tf.cast(target - side, tf.float64) <= PAD_LIMIT * tf.cast(target, tf.float64))
        short = tf.where(pad, target - side, 0)
        paddings.append([short // 2, (short + 1) // 2])
    return tf.pad(image, paddings + [[0, 0]])


def _pil_coefficients(in_size: tf.Tensor, out_size: int) -> tf.Tensor:
    """PIL's fixed-point bilinear resampling coefficients ``[out_size, in_size]`` (float64 integers), as
    ``precompute_coeffs`` and ``normalize_coeffs_8bpc`` of its ``Resample.c`` compute them."""
    scale = tf.cast(in_size, tf.float64) / out_size
    filterscale = tf.maximum(scale, 1.0)
    support = filterscale  # the bilinear filter's support is 1
    centre = (tf.range(out_size, dtype=tf.float64) + 0.5) * scale
    lowest = tf.maximum(tf.cast(centre - support + 0.5, tf.int32), 0)  # C's (int): truncation
    highest = tf.minimum(tf.cast(centre + support + 0.5, tf.int32), in_size)
    index = tf.range(in_size)
    x = (tf.cast(index, tf.float64)[None, :] - centre[:, None] + 0.5) * (1.0 / filterscale)
    weights = tf.maximum(1.0 - tf.abs(x), 0.0)
    inside = tf.logical_and(index[None, :] >= lowest[:, None], index[None, :] < highest[:, None])
    weights = tf.where(inside, weights, 0.0)
    total = tf.reduce_sum(weights, axis=1, keepdims=True)
    weights = tf.where(total != 0.0, weights / tf.where(total != 0.0, total, 1.0), weights)
    return tf.floor(0.5 + weights * (1 << _PRECISION_BITS))


def _resample_rows(image: tf.Tensor, coefficients: tf.Tensor) -> tf.Tensor:
    """One pass of PIL's 8-bit resampling along axis 1 of uint8 ``[h, w, c]``: ``[h, out, c]``."""
    sums = tf.einsum("hwc,ow->hoc", tf.cast(image, tf.float64), coefficients) + (1 << (_PRECISION_BITS - 1))
    return tf.cast(tf.clip_by_value(tf.floor(sums / (1 << _PRECISION_BITS)), 0.0, 255.0), tf.uint8)


def _resize_like_pil(image: tf.Tensor, size: int) -> tf.Tensor:
    """uint8 ``[h, w, c]`` -> ``[size, size, c]`` as PIL's ``resize((size, size), BILINEAR)``: a horizontal
    then a vertical pass, each rounded to 8 bits."""
    shape = tf.shape(image)
    wide = _resample_rows(image, _pil_coefficients(shape[1], size))
    tall = _resample_rows(tf.transpose(wide, [1, 0, 2]), _pil_coefficients(shape[0], size))
    return tf.transpose(tall, [1, 0, 2])


def _normalize(image: tf.Tensor, method: str) -> tf.Tensor:
    """:func:`~jointvae_tf.data.normalize.normalize_images` of one uint8 ``[S, S, C]`` image."""
    image = _ink_on_black(image)
    if method == "silhouette":
        image = _fill_silhouette(image)
    maps = {"box": _box_map, "moments": _moment_map, "affine": _affine_map, "silhouette": _affine_map}[method]
    centre, matrix, blank = maps(image)
    return _warp(image, centre, matrix, blank)


def _ink_on_black(image: tf.Tensor) -> tf.Tensor:
    """:func:`~jointvae_tf.data.normalize.ink_on_black` of one image."""
    levels = tf.cast(image, tf.float32)
    border = tf.concat([levels[0], levels[-1], levels[1:-1, 0], levels[1:-1, -1]], axis=0)  # [B, C]
    ordered = tf.sort(border, axis=0)
    count = tf.shape(ordered)[0]
    upper = ordered[count // 2]
    lower = ordered[(count - 1) // 2]
    ground = (lower + upper) / 2.0  # numpy's median: the mean of the middle two of an even count
    departure = levels - ground
    flip = tf.reduce_sum(tf.maximum(-departure, 0.0)) > tf.reduce_sum(tf.maximum(departure, 0.0))
    room = tf.maximum(tf.where(flip, ground, 255.0 - ground), normalize._MIN_ROOM)
    converted = _to_uint8(tf.where(flip, -departure, departure) * (255.0 / room) + 0.5)
    black = tf.logical_and(tf.logical_not(flip), tf.reduce_all(ground <= normalize.GROUND_TOLERANCE * 255))
    return tf.where(black, image, converted)


def _ink(image: tf.Tensor) -> tf.Tensor:
    """:func:`~jointvae_tf.data.normalize.ink_mask` of one image: bool ``[S, S]``."""
    level = tf.reduce_max(image, axis=-1)
    return tf.cast(level, tf.float64) > normalize.THRESHOLD * tf.cast(tf.reduce_max(level), tf.float64)


def _shift(mask: tf.Tensor, rows: int, cols: int) -> tf.Tensor:
    """bool ``[S, S]`` moved by ``rows`` down and ``cols`` right (each -1, 0 or 1), False where it came in."""
    padded = tf.pad(mask, [[1, 1], [1, 1]])
    size = tf.shape(mask)[0]
    return padded[1 - rows:1 - rows + size, 1 - cols:1 - cols + size]


def _grow(mask: tf.Tensor, square: bool = True) -> tf.Tensor:
    """:func:`~jointvae_tf.data.normalize._grow` of one mask."""
    grown = mask | _shift(mask, 1, 0) | _shift(mask, -1, 0)
    if square:
        return grown | _shift(grown, 0, 1) | _shift(grown, 0, -1)
    return grown | _shift(mask, 0, 1) | _shift(mask, 0, -1)


def _fill_silhouette(image: tf.Tensor) -> tf.Tensor:
    """:func:`~jointvae_tf.data.normalize.fill_silhouettes` of one image."""
    ink = _ink(image)
    for _ in range(normalize.SILHOUETTE_CLOSING):
        ink = _grow(ink)
    size = tf.shape(ink)[0]
    edge = tf.pad(tf.zeros([size - 2, size - 2], tf.bool), [[1, 1], [1, 1]], constant_values=True)
    outside = edge & ~ink
    grown = lambda outside: _grow(outside, square=False) & ~ink  # noqa: E731
    changing = lambda outside: tf.reduce_any(grown(outside) != outside)  # noqa: E731
    outside = tf.while_loop(changing, lambda outside: [grown(outside)], [outside])[0]
    figure = ~outside
    for _ in range(normalize.SILHOUETTE_CLOSING):
        figure = ~_grow(~figure)
    colour = tf.cast(tf.reduce_max(image, axis=[0, 1]), tf.float32)  # [C]
    colour = 255.0 * colour / tf.maximum(tf.reduce_max(colour), 1.0)
    return tf.where(figure[..., None], _to_uint8(colour + 0.5), tf.zeros_like(image))


def _box_map(image: tf.Tensor):
    """``(centre [2] (x, y), matrix [2, 2], blank)`` of :func:`~jointvae_tf.data.normalize._box_maps`."""
    size = image.shape[0]
    ink = _ink(image)
    rows, cols = tf.reduce_any(ink, axis=1), tf.reduce_any(ink, axis=0)
    first = lambda mask: tf.cast(tf.argmax(tf.cast(mask, tf.int32)), tf.float32)  # noqa: E731
    last = lambda mask: size - tf.cast(tf.argmax(tf.cast(mask[::-1], tf.int32)), tf.float32)  # noqa: E731
    blank = ~tf.reduce_any(rows)
    top, left, bottom, right = [tf.where(blank, 0.0, value) for value in
                                (first(rows), first(cols), last(rows), last(cols))]
    side = tf.maximum(bottom - top, right - left) / normalize.INNER_FRACTION
    centre = tf.stack([(left + right) / 2, (top + bottom) / 2])
    return centre, side / size * tf.eye(2), side == 0


def _ink_moments(image: tf.Tensor):
    """Centre of mass ``[2]`` (x, y), covariance ``[2, 2]`` and blank of one image's ink, as
    :func:`~jointvae_tf.data.normalize._ink_moments` computes them."""
    size = image.shape[0]
    level = tf.where(_ink(image), tf.cast(tf.reduce_max(image, axis=-1), tf.float32), 0.0)
    mass = tf.reduce_sum(level)
    blank = mass == 0
    weights = level / tf.where(blank, 1.0, mass)
    coords = tf.range(size, dtype=tf.float32) + 0.5
    mean_x = tf.reduce_sum(tf.reduce_sum(weights, axis=0) * coords)
    mean_y = tf.reduce_sum(tf.reduce_sum(weights, axis=1) * coords)
    dx = coords[None, :] - mean_x
    dy = coords[:, None] - mean_y
    xy = tf.reduce_sum(weights * dx * dy)
    covariance = tf.stack([tf.stack([tf.reduce_sum(weights * dx * dx), xy]),
                           tf.stack([xy, tf.reduce_sum(weights * dy * dy)])])
    return tf.stack([mean_x, mean_y]), covariance, blank


def _moment_map(image: tf.Tensor):
    centre, covariance, blank = _ink_moments(image)
    radius = tf.sqrt(tf.linalg.trace(covariance))
    return centre, radius / (normalize.RADIUS_FRACTION * image.shape[0]) * tf.eye(2), blank | (radius == 0)


def _affine_map(image: tf.Tensor):
    centre, covariance, blank = _ink_moments(image)
    values, vectors = tf.linalg.eigh(covariance + normalize._MIN_VARIANCE * tf.eye(2))
    square_root = vectors @ (tf.sqrt(values)[:, None] * tf.transpose(vectors))
    # As numpy computes it: a float32 matrix over a float64 scalar is float64.
    scale = normalize.RADIUS_FRACTION * image.shape[0] / np.sqrt(2.0)
    return centre, tf.cast(square_root, tf.float64) / scale, blank


def _warp(image: tf.Tensor, centre: tf.Tensor, matrix: tf.Tensor, blank: tf.Tensor) -> tf.Tensor:
    """:func:`~jointvae_tf.data.normalize._warp` of one image (in the float type of ``matrix``, as numpy)."""
    size = image.shape[0]
    offset = 0.5 - size / 2
    shifted = tf.cast(centre - 0.5, matrix.dtype)  # float32 centre - 0.5, then in the matrix's type
    a = [matrix[0, 0], matrix[0, 1], shifted[0] + (matrix[0, 0] + matrix[0, 1]) * offset]
    b = [matrix[1, 0], matrix[1, 1], shifted[1] + (matrix[1, 0] + matrix[1, 1]) * offset]
    transform = tf.cast(tf.stack(a + b + [tf.zeros([], matrix.dtype)] * 2), tf.float32)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None], transforms=transform[None], output_shape=[size, size],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")[0]
    return tf.where(blank, image, _to_uint8(warped + 0.5))
