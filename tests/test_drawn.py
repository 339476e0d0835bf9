"""The drawn-digit yardstick: reproducible, balanced, canvas-like drawings, MNIST-style inputs.

The drawings are checked against the page's own constants (capsnet/page/inputs.py) and the page's
preprocessing; the committed file against what the generator makes again; the report against
a count by hand; and `train.py evaluate --drawn` end to end with the shipped weights, on a tiny
stand-in for MNIST so that it runs in seconds.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from conftest import ROOT
from test_drawn_input import PAGE

from capsnet import drawn
from capsnet.preprocess import BOX, CENTRE, INK_THRESHOLD, preprocess, stroke_width

PER_CLASS = 6  # two drawings per digit and band: 60 drawings, about half a second
HEIGHT_SLACK = 2  # canvas pixels: anti-aliased edges make the ink a pixel taller or shorter
CENTRE_SLACK = 0.5  # preprocessing places the digit by whole pixels, so its centre of mass
# is within half a pixel of MNIST's
LOOPS_KEPT = 0.95  # share of drawn 0s, 6s, 8s and 9s whose loops, open on the canvas, stay
# open in the model input
SHIPPED_COUNT = 2100  # the committed set: 210 drawings per digit
REMAKE = ("the committed yardstick is stale (after a change to the drawing rules or to "
          "preprocessing): remake it with `python scripts/make_drawn.py`")


@pytest.fixture(scope="module")
def small() -> drawn.Yardstick:
    return drawn.make(seed=0, per_class=PER_CLASS)


@pytest.fixture(scope="module")
def shipped() -> drawn.Yardstick:
    return drawn.load(drawn.DRAWN_PATH)


def test_the_same_seed_makes_the_same_drawings_and_another_seed_others(small):
    again = drawn.make(seed=0, per_class=PER_CLASS)
    for name in ("images", "labels", "bands", "variants", "styles", "pens", "heights",
                 "slants", "redraws"):
        np.testing.assert_array_equal(getattr(again, name), getattr(small, name), err_msg=name)
    other = drawn.make(seed=1, per_class=3)
    assert not np.array_equal(other.images, small.images[:30])
    np.testing.assert_array_equal(drawn.canvas(7), drawn.canvas(7))


def test_classes_and_bands_are_balanced(small):
    assert Counter(small.labels.tolist()) == {digit: PER_CLASS for digit in range(10)}
    per_band = PER_CLASS // len(drawn.BANDS)
    assert Counter(zip(small.labels.tolist(), small.bands.tolist(), strict=True)) == {
        (digit, band): per_band for digit in range(10) for band in drawn.BANDS}
    # the shipped plan, from the indices alone: 70 per digit and band, every variant used
    plans = [drawn.plan(index) for index in range(SHIPPED_COUNT)]
    assert set(Counter((p.label, p.band) for p in plans).values()) == {70}
    assert {(p.label, p.variant) for p in plans} == {
        (digit, name) for digit, names in drawn.VARIANTS.items() for name in names}


def test_per_class_must_split_evenly_into_the_bands():
    with pytest.raises(ValueError, match="multiple of 3"):
        drawn.make(per_class=4)


def test_canvases_are_the_pages_white_ink_on_an_opaque_black_sheet():
    assert (drawn.CANVAS, drawn.PEN_WIDTHS, drawn.PEN_DEFAULT) == (
        PAGE["CANVAS_SIZE"], PAGE["STROKE_LIMITS"], PAGE["STROKE_DEFAULT"])
    for index in (0, 11, 25, 38, 59):
        made = drawn.drawing(index)
        canvas = made.canvas
        assert canvas.shape == (PAGE["CANVAS_SIZE"],) * 2 + (4,) and canvas.dtype == np.uint8
        assert (canvas[..., 3] == 255).all()
        assert (canvas[..., 0] == canvas[..., 1]).all() and (canvas[..., 0] == canvas[..., 2]).all()
        assert canvas[..., 0].max() == 255
        # anti-aliased like a browser: grey levels at the strokes' edges
        assert ((canvas[..., 0] > 0) & (canvas[..., 0] < 255)).sum() > 50
        # the ink's height is the one its band and the record say
        rows = np.flatnonzero((canvas[..., 0] / 255 > INK_THRESHOLD).any(axis=1))
        assert rows[-1] + 1 - rows[0] == made.height
        low, high = drawn.BANDS[made.band]
        assert (low * drawn.CANVAS - HEIGHT_SLACK <= made.height
                <= high * drawn.CANVAS + HEIGHT_SLACK)
        np.testing.assert_array_equal(preprocess(canvas, ink="light").image, made.image)


def test_pens_are_the_pages_and_sane_for_the_size(shipped):
    assert shipped.pens.min() >= drawn.PEN_WIDTHS[0]
    assert shipped.pens.max() <= drawn.PEN_WIDTHS[1]
    assert (shipped.pens <= drawn.PEN_PER_HEIGHT * shipped.heights + 1).all()
    for style, (low, high) in drawn.PEN_STYLES.items():
        pens = shipped.pens[shipped.styles == style]
        assert len(pens) and low <= pens.min() and pens.max() <= high, style
    # a widest pen only on a digit at least four times as tall
    widest = drawn.PEN_STYLES["widest"][0]
    assert shipped.heights[shipped.styles == "widest"].min() >= 4 * widest - HEIGHT_SLACK


def test_every_image_is_an_mnist_style_digit(shipped):
    images = shipped.images.astype("float32") / 255.0
    assert shipped.images.shape == (SHIPPED_COUNT, 28, 28) and shipped.images.dtype == np.uint8
    ys, xs = np.indices((28, 28))
    mass = images.sum(axis=(1, 2))
    for along in (ys, xs):
        centre = (images * along).sum(axis=(1, 2)) / mass
        assert np.abs(centre - CENTRE).max() <= CENTRE_SLACK + 0.01  # + uint8 rounding
    ink = images > INK_THRESHOLD
    tall = np.array([np.ptp(np.flatnonzero(mask.any(axis=1))) + 1 for mask in ink])
    wide = np.array([np.ptp(np.flatnonzero(mask.any(axis=0))) + 1 for mask in ink])
    assert (np.maximum(tall, wide) == BOX).all()  # the longer side scaled to MNIST's 20 pixels
    for digit, loops in drawn.COUNTERS.items():  # preprocessing keeps nearly every loop open
        kept = [drawn.counters(image) >= loops for image in images[shipped.labels == digit]]
        assert np.mean(kept) >= LOOPS_KEPT, digit


def test_committed_file_is_what_the_generator_makes(shipped, small):
    assert len(shipped) == SHIPPED_COUNT and shipped.seed == 0
    # drawings are planned by index, so a smaller set is the start of the shipped one
    for name in ("images", "labels", "bands", "variants", "styles", "pens", "heights",
                 "slants", "redraws"):
        np.testing.assert_array_equal(getattr(shipped, name)[:len(small)], getattr(small, name),
                                      err_msg=f"{name}: {REMAKE}")
    for index in (97, 845, 1234, 2099):  # and a few from further on, made one by one
        made = drawn.drawing(index)
        np.testing.assert_array_equal(shipped.images[index],
                                      np.round(made.image * 255).astype("uint8"), err_msg=REMAKE)
        assert (shipped.labels[index], shipped.bands[index], shipped.variants[index],
                shipped.pens[index]) == (made.label, made.band, made.variant, made.pen)
    assert shipped.redraws.mean() < 0.02  # refusals are rare: the rules draw legible digits


def test_save_and_load_round_trip_without_pickles(small, tmp_path):
    path = tmp_path / "drawn"  # no suffix: the file keeps the name it is given
    small.save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert archive["bands"].dtype.kind == "U" and archive["images"].dtype == np.uint8
    loaded = drawn.load(path)
    for name in ("images", "labels", "bands", "variants", "styles", "pens", "slants"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small, name))
    assert loaded.seed == small.seed


def test_load_explains_a_missing_or_damaged_file(tmp_path):
    with pytest.raises(drawn.YardstickError, match="make_drawn.py"):
        drawn.load(tmp_path / "absent.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(drawn.YardstickError, match="Could not read"):
        drawn.load(tmp_path / "bad.npz")


def test_the_sources_are_strokes_written_here_not_mnist():
    tree = ast.parse((ROOT / "capsnet" / "drawn.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"__future__", "os", "collections.abc", "dataclasses", "pathlib",
                        "numpy", "PIL", "capsnet.preprocess"}


def test_counters_counts_closed_loops():
    ring = np.zeros((28, 28), "float32")
    ring[6:22, 8:20] = 1.0
    ring[9:19, 11:17] = 0.0
    assert drawn.counters(ring) == 1
    eight = ring.copy()
    eight[13:15, 8:20] = 1.0  # a bar across the middle
    assert drawn.counters(eight) == 2
    assert drawn.counters(np.pad(np.ones((20, 3), "float32"), 4)) == 0
    diagonal = np.zeros((5, 5), "float32")  # ink meeting only at corners still closes a loop
    for y, x in ((1, 2), (2, 1), (2, 3), (3, 2)):
        diagonal[y, x] = 1.0
    assert drawn.counters(diagonal) == 1


def tiny_yardstick() -> drawn.Yardstick:
    labels = np.array([0, 0, 1, 7, 7, 7])
    bands = np.array(["small", "large", "small", "small", "medium", "large"])
    strings = np.array(["x"] * 6)
    return drawn.Yardstick(np.zeros((6, 28, 28), "uint8"), labels, bands, strings, strings,
                           np.full(6, 10), np.full(6, 100), np.zeros(6), np.zeros(6))


def test_report_matches_a_count_by_hand():
    predicted = np.array([0, 8, 1, 1, 7, 7])  # wrong: the second 0, the first 7
    result = drawn.report(predicted, tiny_yardstick())
    assert result["accuracy"] == round(4 / 6, 4) and result["count"] == 6
    assert result["errors"] == 2
    per_class = {digit: {"accuracy": None, "count": 0} for digit in "0123456789"}
    per_class.update({"0": {"accuracy": 0.5, "count": 2}, "1": {"accuracy": 1.0, "count": 1},
                      "7": {"accuracy": round(2 / 3, 4), "count": 3}})
    assert result["per_class"] == per_class
    assert result["per_band"] == {"small": {"accuracy": round(2 / 3, 4), "count": 3},
                                  "medium": {"accuracy": 1.0, "count": 1},
                                  "large": {"accuracy": 0.5, "count": 2}}
    assert json.loads(json.dumps(result)) == result
    with pytest.raises(ValueError, match="one label per drawing"):
        drawn.report(predicted[:5], tiny_yardstick())


def test_select_keeps_matching_drawings(small):
    chosen = small.select(label=4, band="small")
    assert len(chosen) == PER_CLASS // len(drawn.BANDS)
    assert (chosen.labels == 4).all() and (chosen.bands == "small").all()
    assert chosen.images.shape == (len(chosen), 28, 28)


def run_train(*args):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True,
                          text=True)


def test_train_evaluate_drawn_reports_each_model(tmp_path, small):
    # A stand-in for MNIST: the test-set figures are not what this test checks.
    stand_in = tmp_path / "mnist.npz"
    np.savez(stand_in, x_train=np.zeros((2, 28, 28), "uint8"), y_train=np.zeros(2, "uint8"),
             x_test=np.zeros((4, 28, 28), "uint8"), y_test=np.zeros(4, "uint8"))
    small.save(tmp_path / "drawn.npz")
    result = run_train("evaluate", "--data", str(stand_in), "--drawn", str(tmp_path / "drawn.npz"))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) == {"cnn", "capsnet"}
    for report in (printed[name]["drawn"] for name in printed):
        assert set(report) == {"accuracy", "count", "errors", "per_class", "per_band"}
        assert report["count"] == len(small)
        assert set(report["per_class"]) == {str(digit) for digit in range(10)}
        assert set(report["per_band"]) == set(drawn.BANDS)
        for groups in (report["per_class"], report["per_band"]):
            assert sum(group["count"] for group in groups.values()) == report["count"]
            assert all(0.0 <= group["accuracy"] <= 1.0 for group in groups.values())
        assert 0.0 <= report["accuracy"] <= 1.0
        assert report["errors"] == round(report["count"] * (1 - report["accuracy"]))

    result = run_train("evaluate", "--data", str(stand_in))  # without --drawn, no entry
    assert result.returncode == 0 and "drawn" not in json.loads(result.stdout)["cnn"]


def test_evaluate_makes_a_missing_yardstick_and_says_so(tmp_path, monkeypatch, capsys):
    import train

    monkeypatch.setattr(drawn, "PER_CLASS", 3)  # the real default takes half a minute
    made = train.drawn_yardstick(tmp_path / "new" / "drawn.npz")
    assert "No drawn-digit yardstick" in capsys.readouterr().err
    assert len(made) == 30 and (tmp_path / "new" / "drawn.npz").is_file()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(train.DataError, match="Could not read"):
        train.drawn_yardstick(tmp_path / "bad.npz")


def width_on_the_field(image: np.ndarray) -> float:
    """Stroke width of a 28x28 image as the models see it: 2 * area / perimeter of its ink,
    in pixels of a 20-pixel box (the same measure for MNIST's digits and for drawings)."""
    mask = image > INK_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return stroke_width(crop) * BOX / max(crop.shape)


def test_drawings_of_every_size_get_mnists_stroke_width():
    """Scaling a small drawing up into the 20-pixel box must not leave its strokes bolder than
    MNIST's: in every size band, the median width lies within MNIST's quartiles and the 90th
    percentile within MNIST's, and in no band and pen style is the median above MNIST's 90th
    percentile (a marker-wide stroke closes the loops of a small 6, 9 or 2 into an 8's)."""
    from capsnet.samples import load_sample

    mnist = [width_on_the_field(image / 255.0) for image in load_sample().select("random").images]
    quartile_1, quartile_3, top = np.percentile(mnist, [25, 75, 90])
    drawings = drawn.make(seed=0, per_class=30)  # fresh from the current preprocessing
    widths = np.array([width_on_the_field(image / 255.0) for image in drawings.images])
    for band in drawn.BANDS:
        in_band = widths[drawings.bands == band]
        assert quartile_1 <= np.median(in_band) <= quartile_3, band
        assert np.percentile(in_band, 90) <= top, band
        for style in np.unique(drawings.styles[drawings.bands == band]):
            chosen = in_band[drawings.styles[drawings.bands == band] == style]
            assert np.median(chosen) <= top, (band, style)


def test_a_small_digit_drawn_with_the_default_pen_is_thinned_to_mnists_width():
    """The case that misled the CapsNet: a digit a third of the canvas high, drawn with the
    page's default pen, whose width would scale up to 4.5 pixels or more."""
    from PIL import Image, ImageDraw

    side, pen = PAGE["CANVAS_SIZE"], PAGE["STROKE_DEFAULT"]
    ink = Image.new("L", (side, side), 0)
    ImageDraw.Draw(ink).ellipse((40, 40, 100, 130), outline=255, width=pen)  # a small zero
    canvas = np.zeros((side, side, 4), "uint8")
    canvas[..., :3], canvas[..., 3] = np.asarray(ink)[..., None], 255
    scaled = pen * BOX / 90  # its pen width once the drawing is scaled into the box
    assert scaled > 3.9
    image = preprocess(canvas, ink="light").image
    assert width_on_the_field(image) <= 4.2  # MNIST's 75th percentile is 4.0
