"""Safe image decoding: orientation, modes and frames right; bombs and junk refused."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from capsnet.images import MAX_BYTES, ImageError, load_image
from capsnet.preprocess import to_ink
from capsnet.samples import load_sample

DIGIT = np.asarray(Image.fromarray(load_sample().images[0]).resize((112, 112)))  # uint8


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of blank pixels: a few hundred kB that decode to width x height."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    row = bytes(1 + (width + 7) // 8)  # filter byte, then the packed pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def test_exif_orientation_is_applied_once():
    stored = np.zeros((30, 20), dtype="uint8")
    stored[:5, :5] = 255  # a mark in the stored image's top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: display after turning 90 degrees clockwise
    loaded = load_image(encode(Image.fromarray(stored), "PNG", exif=exif.tobytes()))
    assert loaded.size == (30, 20)  # (width, height): the portrait image is now landscape
    np.testing.assert_array_equal(np.asarray(loaded), np.rot90(stored, k=-1))
    # The orientation is consumed: turning the result upright again changes nothing.
    np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(loaded)),
                                  np.asarray(loaded))


@pytest.mark.parametrize(
    ("mode", "image_format", "lossless"),
    [("P", "PNG", True), ("P", "GIF", True), ("I;16", "PNG", True), ("LA", "PNG", True),
     ("CMYK", "TIFF", True), ("CMYK", "JPEG", False)],
)
def test_other_modes_decode_to_the_same_ink(mode, image_format, lossless):
    reference = Image.fromarray(255 - DIGIT)  # dark ink on light paper
    if mode == "I;16":
        converted = Image.fromarray(65535 - DIGIT.astype("uint16") * 257)  # 8 to 16 bits
    elif mode == "LA":
        converted = reference.convert("LA")
    else:
        converted = reference.convert(mode)
    loaded = load_image(encode(converted, image_format, **({"quality": 95} if not lossless
                                                            else {})))
    assert loaded.mode == mode
    assert loaded.size == reference.size
    difference = np.abs(to_ink(loaded) - to_ink(reference))
    if lossless:
        assert difference.max() < 0.01
    else:
        assert difference.mean() < 0.02


def test_animated_gif_gives_its_first_frame():
    first = Image.fromarray(255 - DIGIT)
    second = Image.fromarray(DIGIT)  # inverted: every pixel differs from the first frame
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    loaded = load_image(data)
    assert getattr(loaded, "n_frames", 1) == 1
    np.testing.assert_array_equal(np.asarray(loaded.convert("L")), 255 - DIGIT)


def test_decompression_bomb_is_refused_before_decoding():
    bomb = png_claiming(30_000, 30_000)  # 900 megapixels, beyond Pillow's own limit too
    assert len(bomb) < MAX_BYTES
    with pytest.raises(ImageError, match="too many pixels"):
        load_image(bomb)


def test_image_over_the_pixel_limit_is_refused():
    large = png_claiming(6_000, 6_000)  # 36 megapixels: under Pillow's limit, over ours
    with pytest.raises(ImageError, match="6000 x 6000 pixels.*up to 20 megapixels"):
        load_image(large)
    with pytest.raises(ImageError, match="up to 1 megapixels"):
        load_image(png_claiming(1_100, 1_000), max_pixels=1_000_000)
    assert load_image(png_claiming(1_000, 1_000), max_pixels=1_000_000).size == (1000, 1000)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"not an image, just some text\n", "not an image"),
     (b"\x00" * (MAX_BYTES + 1), "up to 5.0 MB")],
)
def test_junk_bytes_are_refused(data, message):
    with pytest.raises(ImageError, match=message):
        load_image(data)


def test_damaged_image_is_refused():
    data = encode(Image.fromarray(DIGIT), "PNG")
    with pytest.raises(ImageError, match="damaged"):
        load_image(data[: len(data) // 2])


def test_files_are_read_and_refused_like_bytes(tmp_path):
    path = tmp_path / "digit.png"
    path.write_bytes(encode(Image.fromarray(DIGIT), "PNG"))
    np.testing.assert_array_equal(np.asarray(load_image(path)), DIGIT)
    with pytest.raises(ImageError, match="up to 1 kB"):
        load_image(path, max_bytes=1000)
    with pytest.raises(ImageError, match="cannot be read"):
        load_image(tmp_path / "missing.png")
    assert issubclass(ImageError, ValueError)
