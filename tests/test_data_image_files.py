"""The one image reader: every PNG/JPEG/BMP flavour at its real range, a pixel cap checked before decoding,
and a one-line error naming the image for anything else."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from jointvae_tf.data.image_files import MAX_IMAGE_PIXELS, read_image
from jointvae_tf.errors import JointVAEError


def ramp():
    """uint8 [16, 16]: every grey level 0, 1, ..., 255 once, row by row."""
    return np.arange(256, dtype=np.uint8).reshape(16, 16)


def png_header_only(width, height):
    """The bytes of a PNG that says it is ``width`` x ``height`` grey but holds one row: what a decompression
    bomb looks like before decoding (a reader that decodes it first fails later, or runs out of memory)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
            + chunk(b"IEND", b""))


def encoded(image, fmt="PNG"):
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_sixteen_bit_grey_keeps_its_range(tmp_path):
    sixteen = ramp().astype(np.uint16) * 257  # 0, 257, ..., 65535: the same ramp at 16 bits
    Image.fromarray(sixteen).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    np.testing.assert_array_equal(read_image(str(tmp_path / "deep.png"), 1)[..., 0], ramp())
    np.testing.assert_array_equal(read_image(str(tmp_path / "deep.png"), 3), np.repeat(ramp()[..., None], 3, -1))


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "1"])
def test_every_colour_mode_reads_as_the_picture_it_shows(mode):
    picture = ramp() if mode != "1" else np.where(ramp() > 127, 255, 0).astype(np.uint8)
    source = Image.fromarray(picture).convert(mode)
    np.testing.assert_array_equal(read_image(encoded(source), 1)[..., 0], picture)


def test_cmyk_jpeg_reads_as_its_colours():
    black, white = Image.new("CMYK", (8, 8), (0, 0, 0, 255)), Image.new("CMYK", (8, 8), (0, 0, 0, 0))
    assert read_image(encoded(black, "JPEG"), 1).max() <= 2
    assert read_image(encoded(white, "JPEG"), 3).min() >= 253


@pytest.mark.parametrize("mode", ["LA", "RGBA", "PA"])
def test_transparency_is_shown_over_white(mode):
    """Black ink on a transparent ground (stored as black, as drawing programs often do) is black on white."""
    ink = np.zeros((8, 8), np.uint8)
    alpha = np.zeros((8, 8), np.uint8)
    alpha[2:6, 3] = 255
    la = Image.merge("LA", [Image.fromarray(ink), Image.fromarray(alpha)])
    source = la.convert(mode) if mode != "PA" else la.convert("RGBA").convert("P")  # PNG keeps P's alpha
    expected = np.where(alpha == 255, 0, 255)
    np.testing.assert_array_equal(read_image(encoded(source), 1)[..., 0], expected)


def test_a_palette_with_a_transparent_entry_is_shown_over_white():
    palette = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    palette.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)
    palette.info["transparency"] = 1
    np.testing.assert_array_equal(read_image(encoded(palette), 1)[..., 0], [[0, 255], [255, 0]])


@pytest.mark.parametrize("width,height", [(20000, 20000), (12000, 12000), (7000, 6000)])
def test_an_image_over_the_pixel_cap_is_refused_before_decoding(width, height, tmp_path):
    """PIL's own limits (an error above 179 megapixels, a warning above 89) and the cap below them all end
    in one JointVAEError naming the file."""
    assert width * height > MAX_IMAGE_PIXELS == 4096 * 4096
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(width, height))
    size = "the image" if width * height > Image.MAX_IMAGE_PIXELS else f"{width} x {height} pixels"
    with pytest.raises(JointVAEError, match=rf"^{path}: {size} is over the limit of 16.8 megapixels; expected a "
                                            "smaller picture$"):
        read_image(str(path), 1)


def test_an_image_at_the_cap_is_read():
    side = 64
    assert read_image(encoded(Image.new("L", (side, side))), 1).shape == (side, side, 1)


@pytest.mark.parametrize("data,formats,message", [
    (b"not an image", ("PNG", "JPEG", "BMP"), "upload: not an image file; expected a PNG, JPEG or BMP$"),
    (encoded(Image.new("L", (4, 4)), "GIF"), ("PNG", "JPEG"), "upload: a GIF image; expected a PNG or JPEG$"),
    (encoded(Image.new("L", (64, 64)))[:60], ("PNG",), r"upload: an unreadable PNG \("),
])
def test_anything_else_is_one_line_naming_the_image(data, formats, message):
    with pytest.raises(JointVAEError, match=message):
        read_image(data, 1, "upload", formats)
