"""The one reader of image files, wherever an image comes in: training folders, ``evaluate``, explorer uploads
and serving clients.

An image is read at its real bit depth and range: 16-bit grey (``I;16``, ``I``) is scaled from 0..65535,
not clipped at 255; palette, bilevel, CMYK and YCbCr images become grey or RGB through their colours; an
image with transparency (alpha, ``LA``, a palette's transparent entry) is composited over white, as a
viewer shows it on a page. Grey from colour is ITU-R 601 luma, as PIL's ``L`` mode.

Every image is held to :data:`MAX_IMAGE_PIXELS`, checked from its header before any pixel is decoded, so a
decompression bomb (a small file of a huge image) costs no memory; PIL's own bomb check, above it, ends the
same way: a JointVAEError naming the file.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import ContextManager

import numpy as np
from PIL import Image, UnidentifiedImageError

from jointvae_tf.errors import JointVAEError

MAX_IMAGE_PIXELS = 4096 * 4096
"""Largest image read, width x height (16.8 megapixels), the same for training folders and uploads: any
phone photo at its usual 12 megapixels passes; larger images (a 600-dpi scan of a page) are refused before
decoding, and are best reduced first, as the model sees 32 or 64 pixels a side."""
FORMATS = ("PNG", "JPEG", "BMP")
"""Formats read by default (PIL's names; a multi-picture JPEG from a camera, PIL's ``MPO``, counts as JPEG)."""
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def read_image(source: str | bytes, channels: int, name: str | None = None,
               formats: tuple[str, ...] = FORMATS, decoding: ContextManager | None = None) -> np.ndarray:
    """The pixels of an image file as uint8 ``[height, width, channels]`` (``channels`` 1: grey, 3: RGB).

    Args:
      source: the file's path, or its bytes (an upload).
      channels: 1 or 3.
      name: what error messages call the image (default: the path; ``"upload"`` suits bytes).
      formats: the PIL formats accepted, among :data:`FORMATS`.
      decoding: held while the pixels are decoded, after the header's checks (a semaphore that bounds how
        many images a server decodes at once).

    Raises:
      JointVAEError: one line naming the image, for a file that is not an image of ``formats``, is damaged,
        or has more than :data:`MAX_IMAGE_PIXELS` pixels.
    """
    name = name or (source if isinstance(source, str) else "image")
    kinds = " or ".join([", ".join(formats[:-1]), formats[-1]] if len(formats) > 1 else formats)  # PNG, JPEG or BMP
    expected = f"a {kinds}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                found = "JPEG" if image.format == "MPO" else image.format
                if found not in formats:
                    raise JointVAEError(f"{name}: a {found} image; expected {expected}")
                check_pixels(name, *image.size)
                with decoding or contextlib.nullcontext():
                    return _pixels(image, channels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # PIL's limits, far above ours
        raise JointVAEError(_too_many_pixels(name, "the image")) from None
    except UnidentifiedImageError:
        raise JointVAEError(f"{name}: not an image file; expected {expected}") from None
    except FileNotFoundError:
        raise JointVAEError(f"{name}: no such file; expected {expected}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        if isinstance(error, JointVAEError):
            raise
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise JointVAEError(f"{name}: an unreadable {kinds} ({reason})") from None


def check_pixels(name: str, width: int, height: int) -> None:
    """JointVAEError naming ``name`` when a ``width`` x ``height`` image exceeds :data:`MAX_IMAGE_PIXELS`."""
    if width * height > MAX_IMAGE_PIXELS:
        raise JointVAEError(_too_many_pixels(name, f"{width} x {height} pixels"))


def _too_many_pixels(name: str, size: str) -> str:
    return (f"{name}: {size} is over the limit of {MAX_IMAGE_PIXELS / 1e6:.1f} megapixels; "
            "expected a smaller picture")


def _pixels(image: Image.Image, channels: int) -> np.ndarray:
    """uint8 ``[h, w, channels]`` of an opened PIL image, at its real bit depth and range (module docstring)."""
    if channels not in (1, 3):
        raise JointVAEError(f"channels: expected 1 or 3, got {channels}")
    if image.mode in _SIXTEEN_BIT:
        # 0..65535 -> 0..255, rounded (65535 / 257 = 255); "I" holds 16-bit PNGs as int32.
        grey = np.clip(np.asarray(image, dtype=np.float64), 0, 65535) / 257.0
        grey = np.round(grey).astype(np.uint8)[:, :, None]
        return np.repeat(grey, 3, axis=-1) if channels == 3 else grey
    target = "L" if channels == 1 else "RGB"
    if _has_transparency(image):
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(ground, rgba)
    pixels = np.asarray(image.convert(target))
    return pixels.reshape(*pixels.shape[:2], channels)


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info

