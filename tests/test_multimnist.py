"""MultiMNIST (Section 6): the pairs, the two-digit losses, float16 weights, the evaluation
command and the inference API, each against what it must be by construction or by hand."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ROOT

from capsnet import checkpoints, multimnist
from capsnet.config import PAIR_MAX_SHIFT, CapsNetConfig, CNNConfig
from capsnet.data import Split, load_test
from capsnet.layers import OverlayPairs
from capsnet.losses import margin_loss, reconstruction_loss
from capsnet.models import build_capsnet, build_cnn
from capsnet.preprocess import INK_THRESHOLD, PAIR_BOX, PAIR_CENTRE, preprocess_pair
from capsnet.samples import load_sample
from capsnet.training import pair_accuracy
from capsnet.two_digits import ONE_DIGIT_INK, ONE_DIGIT_LENGTH, TwoDigitLab, second_ink

CANVAS = 36


@pytest.fixture(scope="module")
def sample() -> Split:
    """The committed MNIST test digits as a split: no download needed."""
    sample = load_sample()
    return Split(sample.images.astype("float32")[..., None] / 255.0,
                 sample.labels.astype("int64"))


def placed(digit: np.ndarray, shift) -> np.ndarray:
    """A 28x28 digit on the 36x36 canvas, shifted: the reference for both pair makers."""
    canvas = np.zeros((CANVAS, CANVAS, 1), "float32")
    top, left = multimnist.PAD + shift[0], multimnist.PAD + shift[1]
    canvas[top:top + 28, left:left + 28] = digit
    return canvas


def find_shift(digit: np.ndarray, on_canvas: np.ndarray):
    """The shift within 4 pixels that puts `digit` where it is on the canvas, else None."""
    for dy in range(-PAIR_MAX_SHIFT, PAIR_MAX_SHIFT + 1):
        for dx in range(-PAIR_MAX_SHIFT, PAIR_MAX_SHIFT + 1):
            if np.allclose(placed(digit, (dy, dx)), on_canvas, atol=1e-6):
                return dy, dx
    return None


def test_pairs_are_two_classes_shifted_within_four_pixels_and_overlaid(sample):
    pairs = multimnist.make_pairs(sample, 300, seed=3)
    assert pairs.images.shape == (300, CANVAS, CANVAS, 1)
    assert np.all(pairs.labels[:, 0] != pairs.labels[:, 1])
    assert np.abs(pairs.shifts).max() <= PAIR_MAX_SHIFT
    assert set(np.unique(pairs.shifts)) == set(range(-PAIR_MAX_SHIFT, PAIR_MAX_SHIFT + 1))
    for n in range(0, 300, 37):
        for k in range(2):
            digit = sample.images[pairs.indices[n, k]]
            assert pairs.labels[n, k] == sample.labels[pairs.indices[n, k]]
            np.testing.assert_array_equal(pairs.digits[n, k], placed(digit, pairs.shifts[n, k]))
    np.testing.assert_array_equal(pairs.images,
                                  np.minimum(pairs.digits[:, 0] + pairs.digits[:, 1], 1.0))
    np.testing.assert_array_equal(pairs.two_hot().sum(axis=1), 2.0)


def test_pairs_are_deterministic_for_a_seed(sample):
    first, again = (multimnist.make_pairs(sample, 50, seed=7) for _ in range(2))
    other = multimnist.make_pairs(sample, 50, seed=8)
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.indices, other.indices)


def test_the_fixed_test_set_matches_the_paper(mnist_path):
    """10,000 pairs of MNIST test digits, remade identically; their 28x28 fields overlap by
    80% on average, the paper's figure."""
    test = load_test(mnist_path)
    pairs = multimnist.test_pairs(test)
    assert len(pairs) == 10_000
    np.testing.assert_array_equal(pairs.indices, multimnist.test_pairs(test).indices)
    np.testing.assert_array_equal(np.sort(pairs.indices[:, 0]), np.arange(10_000))
    overlap = multimnist.field_overlap(pairs.shifts).mean()
    assert 0.79 < overlap < 0.81, overlap  # exactly (1 - E|d| / 28)^2 = 0.799 in expectation


def test_field_overlap_by_hand():
    shifts = np.array([[[0, 0], [0, 0]], [[-4, 4], [4, -4]], [[2, 0], [0, 0]]])
    np.testing.assert_allclose(multimnist.field_overlap(shifts),
                               [1.0, 20 * 20 / 784, 26 * 28 / 784])


def test_the_train_step_pairs_match_the_reference(sample):
    images, labels = sample.images[:40], np.eye(10, dtype="float32")[sample.labels[:40]]
    layer = OverlayPairs(PAIR_MAX_SHIFT, seed=0)
    overlays, digits, pair_labels = (keras.ops.convert_to_numpy(t)
                                     for t in layer([images, labels]))
    assert overlays.shape == (40, CANVAS, CANVAS, 1) and pair_labels.shape == (40, 2, 10)
    first, second = pair_labels.argmax(-1).T
    assert np.all(first == sample.labels[:40]) and np.all(first != second)
    np.testing.assert_allclose(overlays, np.minimum(digits[:, 0] + digits[:, 1], 1.0))
    for n in range(0, 40, 7):
        assert find_shift(images[n], digits[n, 0]) is not None
        partners = [i for i in range(40) if sample.labels[i] == second[n]
                    and find_shift(images[i], digits[n, 1]) is not None]
        assert partners, f"example {n}: the second digit is no shifted digit of the batch"
    again = keras.ops.convert_to_numpy(layer([images, labels])[0])
    assert not np.array_equal(again, overlays)  # fresh pairs and shifts at every step


def test_the_drawing_style_changes_each_digit_before_it_is_paired(sample):
    """With the drawing recipe a pair is two styled digits, each shifted on its own: here the
    style is a stroke 2 pixels bolder, which is Pillow's 3x3 max filter on each digit."""
    from PIL import Image, ImageFilter

    from capsnet.config import DrawingAugment
    from capsnet.models import pairs_of

    images, labels = sample.images[:24], np.eye(10, dtype="float32")[sample.labels[:24]]

    def paired(drawing):
        made = pairs_of(keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels),
                        PAIR_MAX_SHIFT, drawing, 0, training=True)
        return [keras.ops.convert_to_numpy(t) for t in made]

    bolder = DrawingAugment(rate=1.0, scale=(1.0, 1.0), aspect=0.0, elastic=0.0,
                            stroke=(2.0, 2.0), contrast=(1.0, 1.0))
    overlays, digits, pair_labels = paired(bolder)
    styled = np.stack([np.asarray(Image.fromarray(image[..., 0], mode="F")
                                  .filter(ImageFilter.MaxFilter(3)))[..., None]
                       for image in images])
    np.testing.assert_allclose(overlays, np.minimum(digits[:, 0] + digits[:, 1], 1.0))
    first, second = pair_labels.argmax(-1).T
    for n in range(0, 24, 5):
        assert find_shift(styled[n], digits[n, 0]) is not None
        assert find_shift(images[n], digits[n, 0]) is None  # the MNIST digit itself is not
        assert any(sample.labels[i] == second[n] and find_shift(styled[i], digits[n, 1])
                   is not None for i in range(24)), f"example {n}: no styled partner"
    plain = paired(None)[1]
    assert find_shift(images[0], plain[0, 0]) is not None  # no recipe: MNIST's digits as they are


def test_margin_loss_with_two_present_classes_by_hand():
    lengths = np.array([[0.95, 0.5, 0.05, 0.3, 0, 0, 0, 0, 0, 0]], "float32")
    two_hot = np.array([[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]], "float32")
    # present: max(0, 0.9 - 0.95)^2 + (0.9 - 0.5)^2 = 0.16; absent: 0.5 * (0.3 - 0.1)^2 = 0.02
    assert float(margin_loss(two_hot, lengths)) == pytest.approx(0.18, abs=1e-6)


def test_two_digit_loss_sums_each_digits_reconstruction_error_by_hand():
    targets = np.zeros((1, 2, CANVAS, CANVAS, 1), "float32")
    drawn = np.stack([np.full((CANVAS, CANVAS, 1), 0.5), np.full((CANVAS, CANVAS, 1), 0.1)])
    drawn = drawn[None].astype("float32")
    assert float(reconstruction_loss(targets, drawn)[0]) == pytest.approx(0.26, abs=1e-6)

    trainer = build_capsnet(CapsNetConfig.for_pairs(reconstruction_weight=2.0)).trainer
    lengths = np.array([[0.95, 0.5, 0.05, 0.3, 0, 0, 0, 0, 0, 0]], "float32")
    two_hot = np.array([[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]], "float32")
    loss = trainer.compute_loss(y=None, y_pred=(lengths, drawn, targets, two_hot))
    assert float(loss) == pytest.approx(0.18 + 2.0 * 0.26, abs=1e-5)


def test_pair_accuracy_counts_an_example_only_when_both_digits_are_named():
    two_hot = np.eye(10, dtype="float32")[[[1, 7], [1, 7], [2, 3]]].sum(axis=1)
    scores = np.full((3, 10), 0.1, "float32")
    scores[0, [7, 1]] = [0.9, 0.8]  # both, in either order
    scores[1, [1, 4]] = [0.9, 0.8]  # one of two
    scores[2, [3, 2]] = [0.6, 0.55]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(
        pair_accuracy(two_hot, scores)), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(multimnist.both_named(np.array([[1, 7], [1, 7], [2, 3]]),
                                                        scores), [True, False, True])
    np.testing.assert_array_equal(multimnist.answers(scores), [[7, 1], [1, 4], [3, 2]])


def test_the_models_for_pairs_reuse_the_layers():
    capsnet = build_capsnet(CapsNetConfig.for_pairs())
    assert capsnet.config.primary_grid == 10 and capsnet.config.num_primary == 3200
    # 11.36M: 5.3M in PrimaryCaps, 4.1M in DigitCaps (3200 x 10 x 16 x 8), 1.9M in the decoder
    assert capsnet.model.count_params() == 11_361_808
    assert capsnet.model.get_layer("digit_caps").kernel.shape == (3200, 10, 16, 8)
    cnn = build_cnn(CNNConfig.for_pairs())
    assert cnn.model.output_shape == (None, 10)
    assert cnn.model.get_layer("probabilities").activation.__name__ == "sigmoid"


@pytest.fixture(scope="module")
def pair_models(tmp_path_factory):
    """Untrained two-digit models saved float16, with the float32 models they came from."""
    folder = tmp_path_factory.mktemp("pair_weights")
    capsnet = build_capsnet(CapsNetConfig.for_pairs(), seed=0)
    cnn = build_cnn(CNNConfig.for_pairs(), seed=0)
    for name, built in (("multimnist_capsnet", capsnet), ("multimnist_cnn", cnn)):
        checkpoints.save(name, built.model, built.config, {"model": name}, folder, "float16")
    return folder, capsnet, cnn


def test_float16_storage_halves_the_file_and_reads_like_float32(pair_models, sample):
    folder, capsnet, _ = pair_models
    weights, _ = checkpoints.paths("multimnist_capsnet", folder)
    metrics = checkpoints.read_metrics("multimnist_capsnet", folder)
    assert metrics["weights_storage"] == "float16"
    assert metrics["weights_sha256"] == checkpoints.sha256(weights)  # of the stored file
    assert weights.stat().st_size < 0.52 * 4 * capsnet.model.count_params()
    loaded, _ = checkpoints.load("multimnist_capsnet", folder)
    assert all(w.dtype == "float32" for w in loaded.model.weights)
    images = multimnist.make_pairs(sample, 16, seed=0).images
    before, after = (built.model.predict_on_batch(images) for built in (capsnet, loaded))
    # float16 keeps 11 significant bits: lengths move by about 1e-4, pixels by 1e-5
    np.testing.assert_allclose(after["lengths"], before["lengths"], atol=1e-3)
    np.testing.assert_allclose(after["reconstruction"], before["reconstruction"], atol=1e-3)
    np.testing.assert_array_equal(np.argsort(-after["lengths"])[:, :2],
                                  np.argsort(-before["lengths"])[:, :2])


def test_missing_or_damaged_pair_weights_say_how_to_train_them(pair_models, tmp_path):
    with pytest.raises(checkpoints.WeightsError, match="--task multimnist --model cnn"):
        TwoDigitLab.load(tmp_path)
    folder, _, _ = pair_models
    for path in checkpoints.paths("multimnist_cnn", folder):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    weights, _ = checkpoints.paths("multimnist_cnn", tmp_path)
    weights.write_bytes(weights.read_bytes()[:-100] + bytes(100))
    with pytest.raises(checkpoints.WeightsError, match="SHA-256"):
        checkpoints.load("multimnist_cnn", tmp_path)


def test_two_digit_lab_answers_and_redraws_each_digit(pair_models, sample):
    folder, _, _ = pair_models
    lab = TwoDigitLab.load(folder)
    image = multimnist.make_pairs(sample, 1, seed=0).images[0, ..., 0]
    analysis = lab.analyze(image)
    lengths = analysis.capsnet_lengths
    assert analysis.image.shape == (CANVAS, CANVAS) and analysis.capsules.shape == (10, 16)
    assert analysis.reconstructions.shape == (2, CANVAS, CANVAS)
    first, second = analysis.capsnet_answers
    assert lengths[first] >= lengths[second] >= np.delete(lengths, [first, second]).max()
    assert analysis.cnn_scores[analysis.cnn_answers[0]] == analysis.cnn_scores.max()
    for k, digit in enumerate(analysis.capsnet_answers):
        np.testing.assert_allclose(lab.reconstruct(analysis.capsules, digit),
                                   analysis.reconstructions[k], atol=1e-6)
    # the ink only the second redrawing covers, pixel by pixel
    only_second = sum(min(analysis.reconstructions[1][i, j],
                          max(analysis.image[i, j] - analysis.reconstructions[0][i, j], 0.0))
                      for i in range(CANVAS) for j in range(CANVAS))
    assert analysis.second_ink == pytest.approx(only_second / analysis.image.sum(), rel=1e-4)
    assert analysis.second_length == lengths[second]
    assert analysis.one_digit == (lengths[second] < ONE_DIGIT_LENGTH
                                  or analysis.second_ink < ONE_DIGIT_INK)


def test_a_drawing_of_two_digits_fills_the_pairs_box(sample):
    """A pair drawn large on a canvas comes back as the pairs are: its ink box as long as
    `PAIR_BOX`, its centre of mass at the canvas's centre."""
    pair = multimnist.make_pairs(sample, 1, seed=5).images[0, ..., 0]
    drawing = np.kron(pair, np.ones((8, 8), "float32"))  # 288x288, white ink on black
    image = preprocess_pair((drawing * 255).astype("uint8"), ink="light").image
    assert image.shape == (CANVAS, CANVAS)
    ink = image > INK_THRESHOLD
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (PAIR_BOX - 1, PAIR_BOX,
                                                                PAIR_BOX + 1)
    ys, xs = np.indices(image.shape)
    centre = np.array([(ys * image).sum(), (xs * image).sum()]) / image.sum()
    np.testing.assert_allclose(centre, PAIR_CENTRE, atol=0.5)


def run_train_py(*args):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True,
                          text=True)


def test_evaluate_prints_each_models_pair_error_as_json(pair_models, mnist_path):
    folder, _, _ = pair_models
    result = run_train_py("evaluate", "--task", "multimnist", "--data", str(mnist_path),
                          "--weights", str(folder), "--pairs", "120")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert list(printed) == ["multimnist_cnn", "multimnist_capsnet"]
    for measured in printed.values():
        assert measured["test_pairs"] == 120
        assert measured["test_error"] == pytest.approx(measured["test_errors"] / 120, abs=1e-6)
    per_digit = printed["multimnist_capsnet"]["reconstruction_error_per_digit"]
    assert len(per_digit) == 2 and all(0.0 < error < 1.0 for error in per_digit)
    assert printed["multimnist_capsnet"]["reconstruction_error"] == pytest.approx(
        np.mean(per_digit), abs=1e-6)

    result = run_train_py("evaluate", "--task", "multimnist", "--data", str(mnist_path),
                          "--weights", str(folder / "absent"))
    assert result.returncode == 2 and "--task multimnist" in result.stderr


def test_train_py_trains_a_two_digit_model_on_pairs(tmp_path, mnist_path):
    result = run_train_py("train", "--task", "multimnist", "--model", "cnn", "--data",
                          str(mnist_path), "--limit", "200", "--validation-size", "100",
                          "--epochs", "1", "--out", str(tmp_path), "--verbose", "0",
                          "--lr-decay-every", "100", "--ema", "0.99")
    assert result.returncode == 0, result.stderr
    metrics = checkpoints.read_metrics("multimnist_cnn", tmp_path)
    assert metrics["train"]["lr_decay_every"] == 100 and metrics["train"]["ema"] == 0.99
    assert metrics["history"][0]["learning_rate"] == pytest.approx(1e-3 * 0.9 ** 2)  # 2 steps
    assert metrics["train"]["max_shift"] == PAIR_MAX_SHIFT and metrics["pairs_seen"] == 200
    assert metrics["test_pairs"] == 10_000 and metrics["weights_storage"] == "float16"
    assert metrics["config"]["output"] == "sigmoid" and metrics["config"]["image_size"] == CANVAS
    assert "val_accuracy" in metrics["history"][0]  # measured on the fixed validation pairs
    assert metrics["train"]["augment"] == "shift"  # the paper's pairs, unless asked

    result = run_train_py("train", "--task", "multimnist", "--model", "cnn", "--data",
                          str(mnist_path), "--limit", "200", "--validation-size", "100",
                          "--epochs", "1", "--out", str(tmp_path / "drawing"), "--verbose", "0",
                          "--augment", "drawing")
    assert result.returncode == 0, result.stderr
    recorded = checkpoints.read_metrics("multimnist_cnn", tmp_path / "drawing")["train"]
    assert recorded["augment"] == "drawing" and recorded["drawing"]["rate"] == 0.5


def test_the_page_side_imports_without_keras():
    """The page can import the two-digit API while the models load on a thread of their own."""
    code = ("import sys; import capsnet.two_digits, capsnet.multimnist; "
            "sys.exit('keras' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_second_ink_counts_the_ink_only_the_second_redrawing_covers_by_hand():
    image = np.zeros((4, 4), "float32")
    image[0, :] = 1.0  # a bar of ink, four pixels
    image[3, 0] = 0.5  # and a fainter dot
    first = np.zeros((4, 4), "float32")
    first[0, :2] = 1.0  # the first digit covers half the bar
    first[0, 2] = 0.25  # ... and a quarter of a third pixel
    second = np.zeros((4, 4), "float32")
    second[0, 1:] = 1.0  # the second covers three pixels of the bar, one already covered
    second[3, 0] = 0.2  # some of the dot
    second[2, 2] = 1.0  # and a pixel of no ink at all
    # only the second covers: 0.75 of pixel (0, 2), all of (0, 3) and 0.2 of the dot
    assert second_ink(image, first, second) == pytest.approx((0.75 + 1.0 + 0.2) / 4.5)
    assert second_ink(image, second, first) == pytest.approx(1.0 / 4.5)  # pixel (0, 0)
    assert second_ink(image, image, image) == 0.0  # the first explains all the ink away
    stacked = second_ink(np.stack([image, image]), np.stack([first, image]),
                         np.stack([second, image]))
    np.testing.assert_allclose(stacked, [1.95 / 4.5, 0.0], rtol=1e-6)
    assert second_ink(np.zeros((4, 4)), first, second) == 0.0  # no ink: no division by zero


def test_one_digit_calls_count_each_side_of_the_threshold_by_hand():
    from capsnet.two_digits import one_digit_calls

    singles = np.array([0.05, 0.2, 0.45, 0.6])  # second capsules of images of one digit
    pairs = np.array([0.3, 0.5, 0.8, 0.95, 0.99])  # ... and of two
    rows = one_digit_calls(singles, pairs, [0.25, 0.5])
    assert rows == [
        {"threshold": 0.25, "singles_right": 2, "pairs_right": 5, "right": 7},
        {"threshold": 0.5, "singles_right": 3, "pairs_right": 4, "right": 7},
    ]


def in_use_row(printed: str, title: str, source: str) -> tuple[int, int]:
    """The counts of single digits called one and pairs called two in the "(in use)" row of
    one table that `scripts/one_digit_threshold.py` printed."""
    table = printed.split(f"\n{title}; {source}:")[1]
    row = next(line for line in table.splitlines() if "(in use)" in line)
    cells = row.split("|")
    return int(cells[2].split()[0]), int(cells[3].split()[0])


def test_threshold_script_counts_the_pages_own_one_digit_calls(mnist_path, weights_folder,
                                                               capsys):
    """The script's row for the threshold in use counts what the page calls one digit, on
    MNIST digits alone and pairs and on drawn ones."""
    from test_hardening import load_script

    script = load_script("one_digit_threshold")
    assert script.main(["--data", str(mnist_path), "--weights", str(weights_folder),
                        "--count", "6", "--drawn", "4"]) == 0
    printed = capsys.readouterr().out
    lab = TwoDigitLab.load(weights_folder)
    test = load_test(mnist_path)
    sources = {"MNIST": {"single": np.stack([multimnist.place(test.images[i])
                                             for i in range(6)]),
                         "pair": multimnist.test_pairs(test).head(6).images},
               "drawn": script.drawn_sets(script.drawn.load(), 4)}
    title = script.CALLS["capsnet"][0]
    for source, sets in sources.items():
        singles = sum(a.one_digit for a in lab.analyze_batch(sets["single"]))
        pairs = sum(not a.one_digit for a in lab.analyze_batch(sets["pair"]))
        assert in_use_row(printed, title, source) == (singles, pairs), source
    assert printed.count("best ") == len(script.CALLS) + 1  # and length and ink together


def test_threshold_script_picks_the_most_singles_that_keeps_the_pairs():
    from test_hardening import load_script

    script = load_script("one_digit_threshold")
    rows = {  # two sources of 100 single digits and 100 pairs each
        "MNIST": [{"threshold": 0.1, "singles_right": 30, "pairs_right": 99},
                  {"threshold": 0.2, "singles_right": 60, "pairs_right": 97},
                  {"threshold": 0.3, "singles_right": 80, "pairs_right": 90}],
        "drawn": [{"threshold": 0.1, "singles_right": 20, "pairs_right": 100},
                  {"threshold": 0.2, "singles_right": 40, "pairs_right": 98},
                  {"threshold": 0.3, "singles_right": 70, "pairs_right": 99}],
    }
    sizes = {"MNIST": (100, 100), "drawn": (100, 100)}
    assert script.best(rows, sizes) == (1.0, 0.2)  # 0.3 keeps only 90% of MNIST's pairs
    rows["MNIST"][1]["pairs_right"] = 96
    assert script.best(rows, sizes) == (0.5, 0.1)
    for source in rows:
        for row in rows[source]:
            row["pairs_right"] = 50
    assert script.best(rows, sizes) is None
    assert script.said(None).startswith("no threshold")


def test_capsnet_call_counts_a_short_second_capsule_as_one_digit():
    from test_hardening import load_script

    script = load_script("one_digit_threshold")
    read = {"capsnet_length": np.array([0.1, 0.29, 0.3, 0.8]),
            "capsnet_ink": np.array([0.5, 0.5, 0.5, 0.1])}
    scores = script.capsnet_scores(read, 0.3)
    assert (scores < 0.14).tolist() == [True, True, False, True]
    assert script.capsnet_scores(read, 0.0).tolist() == read["capsnet_ink"].tolist()
