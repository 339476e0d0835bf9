"""What each pose dimension does (`capsnet/dimensions.py`), against independent references.

Each image property is measured on MNIST digits changed by `capsnet.transforms` (shifted,
sheared, scaled, thicker strokes) and on hand-made images whose properties are known by
construction: the property the change is about moves by the change's amount and the others
stay put. The naming is held to sweeps built to have one dominant effect. Then the committed
report, `python -m capsnet dimensions` and the decoder's sweeps.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from capsnet import checkpoints, dimensions, transforms
from capsnet.dimensions import LOCAL, locality, measure_images, measure_sweeps, name_dimension
from capsnet.samples import load_sample

DIGITS = 40  # sample digits each transform is applied to
MARGIN = 4  # pixels of paper around each of them: a shift of 3 loses no ink off the field
STEPS = np.array([-0.25, -0.125, 0.0, 0.125, 0.25])  # a sweep's pose changes
PLACES = ("ink", "stroke", "height", "width", "across", "down", "slant")


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    images = load_sample().select("random").images.astype("float32") / 255.0
    rows, columns = images.any(axis=2), images.any(axis=1)
    clear = (~rows[:, :MARGIN].any(1) & ~rows[:, -MARGIN:].any(1)
             & ~columns[:, :MARGIN].any(1) & ~columns[:, -MARGIN:].any(1))
    return images[clear][:DIGITS]


def changed(digits, transform: transforms.Transform) -> dict[str, np.ndarray]:
    """Each property's change, per digit, under one transform."""
    before = measure_images(digits)
    after = measure_images(np.stack([transforms.apply(d, transform) for d in digits]))
    return {key: after[key] - before[key] for key in PLACES}


def bar(rows=(6, 22), columns=(12, 15), shear: float = 0.0) -> np.ndarray:
    """A hand-made upright bar of full ink, or a parallelogram leaning by `shear`: row r's
    ink starts `shear` columns further right per row above the middle."""
    image = np.zeros((28, 28))
    middle = (rows[0] + rows[1] - 1) / 2
    for row in range(*rows):
        start = columns[0] - shear * (row - middle)
        for column in range(28):  # each pixel's share of [start, start + width)
            image[row, column] = np.clip(min(column + 1, start + columns[1] - columns[0])
                                         - max(column, start), 0, 1)
    return image


# --- The properties, against transforms and hand-made images ---------------------------


@pytest.mark.parametrize("kind, amount", [("across", 2.0), ("down", 2.0), ("across", -3.0),
                                          ("down", -1.0)])  # whole pixels: exact, no blur
def test_a_shift_moves_the_centre_alone(digits, kind, amount):
    shift = {"across": {"shift_x": amount}, "down": {"shift_y": amount}}[kind]
    moved = changed(digits, transforms.Transform(**shift))
    np.testing.assert_allclose(moved[kind], amount, atol=0.02)
    for key in ("stroke", "height", "width", "across", "down", "slant"):
        if key != kind:
            np.testing.assert_allclose(moved[key], 0, atol=0.05, err_msg=key)
    np.testing.assert_allclose(moved["ink"], 0, atol=0.5)  # of some 100 pixels of ink


@pytest.mark.parametrize("shear", [0.3, -0.2])
def test_a_shear_moves_the_slant_by_its_amount(digits, shear):
    moved = changed(digits, transforms.Transform(shear=shear))
    np.testing.assert_allclose(np.median(moved["slant"]), shear, atol=0.02)
    np.testing.assert_allclose(moved["slant"], shear, atol=0.08)
    for key in ("across", "down"):  # it turns about the centre of mass
        np.testing.assert_allclose(moved[key], 0, atol=0.05, err_msg=key)
    # upright, the width stays; bilinear resampling blurs the strokes by a fraction of a pixel
    for key, tolerance in (("height", 0.3), ("width", 0.4), ("stroke", 0.5)):
        assert np.abs(np.median(moved[key])) < tolerance, (key, np.median(moved[key]))


@pytest.mark.parametrize("scale", [1.2, 0.8])
def test_a_scaling_scales_height_and_width(digits, scale):
    before = measure_images(digits)
    moved = changed(digits, transforms.Transform(scale=scale))
    for key in ("height", "width"):
        ratio = (before[key] + moved[key]) / before[key]
        assert abs(np.median(ratio) - scale) < 0.03, (key, np.median(ratio))
    for key in ("across", "down"):  # about the centre of mass, finer sampling where it shrinks
        np.testing.assert_allclose(moved[key], 0, atol=0.15, err_msg=key)
    np.testing.assert_allclose(moved["slant"], 0, atol=0.03)


def test_thicker_strokes_widen_the_stroke_and_move_nothing(digits):
    moved = changed(digits, transforms.Transform(stroke=1))
    widened = np.median(moved["stroke"])
    assert 0.8 <= widened <= 2.0, widened  # about a pixel: each edge moves by half, greys too
    assert (moved["stroke"] > 0).all() and (moved["ink"] > 0).all()
    # the new ink follows the outline, not the ink: the centre moves a little at most
    for key in ("across", "down"):
        assert abs(np.median(moved[key])) < 0.1 and np.abs(moved[key]).max() < 0.5, key
    np.testing.assert_allclose(moved["slant"], 0, atol=0.05)
    # the outline grows by half a pixel each way, the digit's size by about a pixel
    for key in ("height", "width"):
        assert 0 < np.median(moved[key]) < widened, key


@pytest.mark.parametrize("width, pixels", [(5, -1), (4, -1), (3, 1)])
def test_thinner_and_thicker_bars_change_their_width_by_a_pixel(width, pixels):
    image = bar(columns=(11, 11 + width))
    before, after = (measure_images(im)["stroke"][0]
                     for im in (image, transforms.change_stroke(image, pixels)))
    assert after - before == pytest.approx(pixels, abs=0.25)  # its ends grey by half a pixel


@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_a_bar_measures_its_width_height_and_place(width):
    measured = {key: float(value[0]) for key, value in
                measure_images(bar(columns=(12, 12 + width))).items()}
    assert measured["stroke"] == pytest.approx(width, abs=0.07 * width)
    assert measured["ink"] == pytest.approx(16 * width)
    assert measured["height"] == pytest.approx(0.9 * 16)  # the middle 90% of 16 rows
    assert measured["width"] == pytest.approx(0.9 * width)
    assert measured["down"] == pytest.approx(13.5)
    assert measured["across"] == pytest.approx(12 + (width - 1) / 2)
    assert measured["slant"] == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("shear", [0.25, -0.4])
def test_a_leaning_bar_measures_its_lean_and_its_upright_width(shear):
    measured = {key: float(value[0]) for key, value in
                measure_images(bar(columns=(11, 15), shear=shear)).items()}
    assert measured["slant"] == pytest.approx(shear, abs=0.01)
    # upright: about the bar's own 4 columns, where its leaning span is 8 or more
    assert measured["width"] == pytest.approx(0.9 * 4, abs=0.4)


def test_an_empty_image_measures_without_error():
    measured = measure_images(np.zeros((28, 28)))
    assert all(np.isfinite(value).all() for value in measured.values())
    assert measured["ink"][0] == 0 and measured["height"][0] == 0


# --- Locality ---------------------------------------------------------------------------


@pytest.mark.parametrize("transform", [
    transforms.Transform(stroke=1), transforms.Transform(shift_x=2),
    transforms.Transform(shift_y=-2), transforms.Transform(shear=0.3),
    transforms.Transform(scale=1.2), transforms.Transform(rotation=10)])
def test_a_change_of_the_whole_digit_is_not_local(digits, transform):
    local, _ = locality(digits, np.stack([transforms.apply(d, transform) for d in digits]))
    assert np.median(local) < LOCAL / 2
    assert local.max() < LOCAL


def with_blob(image: np.ndarray, down: int, across: int) -> np.ndarray:
    """`image` with a 4x4 square of ink `(down, across)` pixels from its centre of mass."""
    row, column = (int(round(value)) for value in transforms.centre_of_mass(image))
    image = image.copy()
    image[row + down - 2:row + down + 2, column + across - 2:column + across + 2] = 1.0
    return image


@pytest.mark.parametrize("down, across, where", [(-8, 0, "top"), (7, -6, "bottom left"),
                                                 (0, 7, "right"), (0, 0, "middle")])
def test_a_part_drawn_in_is_local_and_placed(digits, down, across, where):
    drawn = np.stack([with_blob(d, down, across) for d in digits])
    local, offsets = locality(digits, drawn)
    assert local.min() > LOCAL
    assert dimensions.region(offsets.mean(axis=0)) == where


# --- Naming, on sweeps built to have one dominant effect --------------------------------


def sweep(digits, change) -> np.ndarray:
    """`(n, len(STEPS), 28, 28)`: each digit changed by `change(step)` at each step."""
    return np.stack([[change(digit, step) for step in STEPS] for digit in digits])


def name_of(digits, change) -> dict:
    measured = measure_sweeps(sweep(digits, change), STEPS)
    moved = dimensions.ink_moved(digits)
    return name_dimension(measured["changes"], moved, measured["local"], measured["offset"],
                          measured["changed"])


SWEEPS = {
    "stroke thickness": lambda d, s: transforms.change_stroke(d, int(round(4 * s))),
    "moves across": lambda d, s: transforms.apply(d, transforms.Transform(shift_x=8 * s)),
    "moves up/down": lambda d, s: transforms.apply(d, transforms.Transform(shift_y=-8 * s)),
    "slant": lambda d, s: transforms.apply(d, transforms.Transform(shear=1.2 * s)),
    "a local part (top)": lambda d, s: with_blob(d, -8, 0) if s > 0 else d,
    "a local part (bottom right)": lambda d, s: with_blob(d, 7, 6) if s < 0 else d,
}


@pytest.mark.parametrize("expected", list(SWEEPS))
def test_a_sweep_with_one_effect_gets_its_name(digits, expected):
    named = name_of(digits, SWEEPS[expected])
    assert named["name"] == expected
    if named["kind"] != "local":
        assert named["strength"] >= dimensions.DOMINANT


def test_a_scaling_moves_height_then_width(digits):
    """A digit is taller than wide, so scaling it moves more ink up and down than across."""
    named = name_of(digits, lambda d, s: transforms.apply(
        d, transforms.Transform(scale=1 + 0.8 * s)))
    assert sorted(named["shares"], key=named["shares"].get)[-2:] == ["width", "height"]
    assert named["shares"]["height"] + named["shares"]["width"] > 0.9


def test_a_diagonal_shift_is_named_mixed(digits):
    named = name_of(digits, lambda d, s: transforms.apply(
        d, transforms.Transform(shift_x=8 * s, shift_y=8 * s)))
    assert named["name"] in ("mixed: moves across, moves up/down",
                             "mixed: moves up/down, moves across")
    assert named["strength"] < dimensions.DOMINANT


def test_a_sweep_that_barely_changes_the_digit_is_little_change(digits):
    named = name_of(digits, lambda d, s: transforms.apply(
        d, transforms.Transform(shift_x=0.1 * s)))
    assert named["name"] == "little change"


def test_the_sweeps_changes_are_the_transforms_amounts(digits):
    measured = measure_sweeps(sweep(digits, SWEEPS["moves across"]), STEPS)
    # shift_x = 8 * step: 4 pixels over the range from -0.25 to +0.25
    assert measured["changes"]["across"] == pytest.approx(4.0, abs=0.05)
    assert measured["changes"]["down"] == pytest.approx(0.0, abs=0.05)


def test_a_sweep_must_hold_the_unchanged_image(digits):
    with pytest.raises(ValueError, match="0 once"):
        measure_sweeps(np.zeros((2, 3, 28, 28)), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="sweeps must be"):
        measure_sweeps(np.zeros((2, 4, 28, 28)), STEPS)


# --- The decoder ------------------------------------------------------------------------


def test_a_sweep_is_figure_4s_row(lab, digits):
    analysis = lab.analyze(digits[0])
    digit = analysis.capsnet_label
    grid = lab.pose_grid(analysis.capsules, digit)
    for dimension in (0, 7, 15):
        swept = dimensions.sweep_images(lab, analysis.capsules[None], digit, dimension)
        np.testing.assert_allclose(swept[0], grid[dimension], atol=1e-6)


def test_correct_capsules_are_read_correctly(lab):
    sample = load_sample()
    images = sample.images.astype("float32") / 255.0
    chosen = dimensions.correct_capsules(lab, images, sample.labels, per_class=3)
    assert sorted(chosen) == list(range(10))
    for digit, capsules in chosen.items():
        assert capsules.shape == (3, 10, 16)
        assert (np.linalg.norm(capsules, axis=-1).argmax(axis=-1) == digit).all()


# --- The report and the command ---------------------------------------------------------


@pytest.fixture(scope="module")
def report() -> dict:
    loaded = dimensions.load_report()
    if loaded is None:
        pytest.skip("no committed dimensions report")
    return loaded


def test_the_committed_report_names_every_dimension_of_every_class(report):
    assert sorted(report["classes"], key=int) == [str(d) for d in range(10)]
    assert report["weights_sha256"] == checkpoints.read_metrics("capsnet").get(
        "weights_sha256", checkpoints.sha256(checkpoints.paths("capsnet")[0]))
    for measured in report["classes"].values():
        if report["source"] == "MNIST test set":
            assert measured["images"] >= 50
        assert [entry["dimension"] for entry in measured["dimensions"]] == list(range(1, 17))
        for entry in measured["dimensions"]:
            named = name_dimension(entry["changes"], measured["ink_moved"], entry["local"],
                                   (0, 0), entry["changed"])
            if named["kind"] != "local":  # the region needs the offset, not kept
                assert named["name"] == entry["name"]


@pytest.mark.parametrize("text", ["{", '{"classes": {}}', '{"classes": {"3": {}}}',
                                  '{"classes": {"12": {"dimensions": []}}}'])
def test_an_unreadable_report_is_named_without_the_servers_folders(tmp_path, text):
    path = tmp_path / "dimensions.json"
    path.write_text(text)
    with pytest.raises(dimensions.ReportError, match="unreadable") as raised:
        dimensions.load_report(path)
    assert str(tmp_path) not in str(raised.value)
    assert "dimensions.json" in str(raised.value)


@pytest.mark.parametrize("remove", ["shares", "kind", "scaled", "region", "properties",
                                    "images"])
def test_a_report_missing_what_the_page_reads_is_unreadable(tmp_path, remove):
    report = json.loads(dimensions.REPORT_PATH.read_text())
    if remove == "properties":
        del report["properties"]
    elif remove == "images":
        del report["classes"]["4"]["images"]
    else:
        del report["classes"]["4"]["dimensions"][9][remove]
    path = tmp_path / "dimensions.json"
    path.write_text(json.dumps(report))
    with pytest.raises(dimensions.ReportError, match="unreadable"):
        dimensions.load_report(path)


def test_the_script_falls_back_on_the_committed_sample(tmp_path, monkeypatch):
    monkeypatch.delenv("CAPSNET_MNIST", raising=False)
    out = tmp_path / "dimensions.json"
    done = subprocess.run([sys.executable, "scripts/dimensions_report.py", "--per-class", "2",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = dimensions.load_report(out)
    assert report["source"] == "committed sample"
    assert sorted(report["classes"], key=int) == [str(d) for d in range(10)]
    assert all(measured["images"] == 2 for measured in report["classes"].values())
    assert report["weights_sha256"] == checkpoints.read_metrics("capsnet").get(
        "weights_sha256", checkpoints.sha256(checkpoints.paths("capsnet")[0]))
    refused = subprocess.run([sys.executable, "scripts/dimensions_report.py", "--per-class",
                              "2"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--out" in refused.stderr


def test_no_report_is_none(tmp_path):
    assert dimensions.load_report(tmp_path / "absent.json") is None


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capsnet", "dimensions", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_command_prints_every_class_and_dimension(report):
    done = run_cli()
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["for_these_weights"] is True
    assert len(printed["dimensions"]) == 160
    for entry in printed["dimensions"]:
        stored = report["classes"][str(entry["class"])]["dimensions"][entry["dimension"] - 1]
        assert entry["name"] == stored["name"]
        assert entry["strength"] == stored["strength"]
        assert entry["changes"] == stored["changes"]


@pytest.mark.parametrize("text", [None, "not json"])
def test_the_command_says_when_there_is_no_report(tmp_path, text):
    path = tmp_path / "dimensions.json"
    if text is not None:
        path.write_text(text)
    done = run_cli("--report", str(path))
    assert done.returncode == 3
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "dimensions report" in done.stderr


def test_landing_new_weights_remakes_the_report():
    sys.path.insert(0, str(ROOT / "scripts"))
    import gpu_land

    assert ["scripts/dimensions_report.py"] in gpu_land.REMAKE
    shown = subprocess.run([sys.executable, "scripts/dimensions_report.py", "--help"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "--data" in shown.stdout  # what --remake passes on
