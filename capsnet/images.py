"""Safe decoding of image files and uploads, for the command line and the page.

An image from outside (a file named on the command line, an upload) is refused before it
is decoded when it is too large on disk or claims too many pixels: a small file can
declare a huge image (a decompression bomb) and exhaust memory when decoded. Only common
raster formats are opened, so no external program or rarely used decoder ever sees the
data. `load_image` does not touch Pillow's process-wide `Image.MAX_IMAGE_PIXELS`: the page
serves many visitors from threads of one process, so the limit is checked per call.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 5 * 1024 * 1024  # 5 MB: a phone photo of a digit is well under it
MAX_PIXELS = 20_000_000  # 20 megapixels: beyond a phone camera's 12, a decoded RGBA copy ~80 MB
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")  # JPEG includes phone cameras' MPO
# files; formats that call out to other programs (EPS) are never opened
FORMAT_NAMES = "PNG, JPEG, GIF, BMP, WebP or TIFF"


class ImageError(ValueError):
    """The data is not an image that may be decoded; the message says why, for a person."""


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.0f} kB"


def _read(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:  # refused before a byte is read
            raise ImageError(f"The file is {_megabytes(size)}; images up to "
                             f"{_megabytes(max_bytes)} are accepted.")
        with open(path, "rb") as file:
            return file.read(max_bytes + 1)  # +1: a file that grew since stat is caught below
    except OSError as error:
        raise ImageError(f"The file cannot be read: {error.strerror or error}.") from error


def load_image(source: bytes | str | os.PathLike, max_bytes: int = MAX_BYTES,
               max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decodes one image from bytes or a file, refusing what is not a safe, sane image.

    The image comes back decoded, upright (its EXIF orientation applied) and as its first
    frame when it is animated, in its own mode (palette, 16-bit, CMYK...), which
    `capsnet.preprocess.preprocess` accepts.

    Args:
        source: the file's bytes (an upload), or a path to it.
        max_bytes: the largest file accepted.
        max_pixels: the largest image accepted, in pixels (width times height).

    Raises:
        ImageError: the file is missing, empty, too large, not an image in one of the
            accepted formats, damaged, or claims more than `max_pixels` pixels.
    """
    if max_bytes <= 0 or max_pixels <= 0:
        raise ValueError("max_bytes and max_pixels must be positive. "
                         f"Received: max_bytes={max_bytes}, max_pixels={max_pixels}")
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else _read(
        Path(source), max_bytes)
    if not data:
        raise ImageError("The file is empty: it holds no image.")
    if len(data) > max_bytes:
        raise ImageError(f"The file is {_megabytes(len(data))}; images up to "
                         f"{_megabytes(max_bytes)} are accepted.")

    try:
        # 1) Identify the format and check the file's structure (PNG checksums and the like);
        #    Pillow reads only the header here and refuses sizes beyond its own bomb limit.
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            probe.verify()
        # 2) Open again (verify leaves an image unusable) and check the size it claims
        #    before any pixel is decoded.
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(
                f"The image is {width} x {height} pixels ({width * height / 1e6:.0f} "
                f"megapixels); images up to {max_pixels / 1e6:.0f} megapixels are accepted.")
        # 3) Decode the first frame only, upright.
        image.seek(0)
        image.load()
        return ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError(f"The image claims too many pixels to decode safely; images up to "
                         f"{max_pixels / 1e6:.0f} megapixels are accepted.") from error
    except UnidentifiedImageError as error:
        raise ImageError(f"This file is not an image in a format read here ({FORMAT_NAMES})."
                         ) from error
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as error:
        # Pillow's decoders report damaged data with any of these.
        raise ImageError(f"The image file is damaged and cannot be decoded ({error}).") from error
