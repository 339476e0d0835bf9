"""Drawn pairs: two drawings of different digits over each other on one canvas, and
`scripts/drawn_pairs.py`, which measures the two-digit models on them as the page reads them.

The overlay is checked against placing the ink by hand, the pairs against the yardstick they
come from, and the script's counts against the page's own `TwoDigitLab.analyze_drawing`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_hardening import load_script

from capsnet import drawn
from capsnet.preprocess import preprocess_pair

COUNT = 6  # pairs the script measures in its test


@pytest.fixture(scope="module")
def yardstick() -> drawn.Yardstick:
    return drawn.load(drawn.DRAWN_PATH)


@pytest.fixture(scope="module")
def pair_lab(weights_folder):
    """The two-digit models the tests run against (the shipped ones, unless
    $CAPSNET_WEIGHTS names others)."""
    from capsnet.two_digits import TwoDigitLab

    return TwoDigitLab.load(weights_folder)


def one_square(top: int, left: int, side: int, level: int = 255) -> np.ndarray:
    canvas = np.zeros((drawn.CANVAS, drawn.CANVAS, 4), "uint8")
    canvas[..., 3] = 255
    canvas[top:top + side, left:left + side, :3] = level
    return canvas


def test_overlay_centres_each_drawing_moves_it_by_its_offset_and_keeps_the_brighter_ink():
    first, second = one_square(3, 5, 20, 200), one_square(200, 240, 10, 120)
    out = drawn.overlay([first, second], [(0, 0), (4, -6)])
    expected = np.zeros((drawn.CANVAS, drawn.CANVAS), "uint8")
    expected[130:150, 130:150] = 200  # 20 pixels: (280 - 20) / 2 = 130 from the top and left
    expected[139:149, 129:139] = np.maximum(expected[139:149, 129:139], 120)  # 135 + 4, 135 - 6
    np.testing.assert_array_equal(out[..., 0], expected)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 3] == 255).all()
    assert drawn.ink_box(first) == (3, 5, 23, 25)


def test_overlay_keeps_a_drawing_moved_past_the_edge_on_the_canvas():
    square = one_square(100, 100, 30)
    out = drawn.overlay([square], [(500, -500)])
    assert drawn.ink_box(out) == (drawn.CANVAS - 30, 0, drawn.CANVAS, 30)
    assert out[..., 0].sum() == square[..., 0].sum()


def test_a_pair_is_two_digits_of_one_band_and_pen_remade_alike_from_its_index(yardstick):
    for index in range(4):
        pair = drawn.drawn_pair(index, yardstick)
        first, second = pair.indices
        assert pair.labels[0] != pair.labels[1]
        assert pair.labels == (yardstick.labels[first], yardstick.labels[second])
        assert pair.band in drawn.PAIR_BANDS
        assert yardstick.bands[first] == yardstick.bands[second] == pair.band
        assert abs(int(yardstick.pens[first]) - int(yardstick.pens[second])) <= drawn.PAIR_PEN
        # both drawings' ink is on the canvas, overlapping: less than the two together
        ink = [drawn.drawing(i, yardstick.seed).canvas[..., 0] > 0 for i in pair.indices]
        on_canvas = int((pair.canvas[..., 0] > 0).sum())
        assert max(map(np.sum, ink)) <= on_canvas < sum(map(np.sum, ink))
        assert preprocess_pair(pair.canvas, ink="light").image.shape == (36, 36)
        np.testing.assert_array_equal(drawn.drawn_pair(index, yardstick).canvas, pair.canvas)
    assert drawn.drawn_pair(0, yardstick).indices != drawn.drawn_pair(1, yardstick).indices


def test_a_yardstick_without_partners_is_refused_with_the_reason(yardstick):
    with pytest.raises(ValueError, match="no two drawings of different digits"):
        drawn.drawn_pair(0, yardstick.select(label=3))
    with pytest.raises(ValueError, match="no two drawings"):
        drawn.drawn_pair(0, yardstick.select(band="small"))


def test_script_counts_the_pairs_the_pages_reading_names(pair_lab, weights_folder,
                                                        yardstick, capsys):
    script = load_script("drawn_pairs")
    assert script.main(["--count", str(COUNT), "--weights", str(weights_folder), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    pairs = [drawn.drawn_pair(index, yardstick) for index in range(COUNT)]
    read = [pair_lab.analyze_drawing(pair.canvas, ink="light") for pair in pairs]
    for model, answers in (("capsnet", [a.capsnet_answers for a in read]),
                           ("cnn", [a.cnn_answers for a in read])):
        named = [set(answer.tolist()) == set(pair.labels) for answer, pair in zip(answers, pairs,
                                                                              strict=True)]
        assert figures[model]["right"] == sum(named) and figures[model]["count"] == COUNT
        assert sum(part["count"] for part in figures[model]["per_band"].values()) == COUNT
        for band, part in figures[model]["per_band"].items():
            assert part["right"] == sum(right for right, pair in zip(named, pairs, strict=True)
                                        if pair.band == band)
    assert figures["pairs"] == COUNT and figures["refused"] == 0
    for model, one_digit in (("capsnet", [a.one_digit for a in read]),
                             ("cnn", [a.cnn_one_digit for a in read])):
        answers = [getattr(a, f"{model}_answers") for a in read]
        assert figures[model]["one_digit_calls"] == sum(one_digit)
        assert figures[model]["shown_right"] == sum(  # what the page shows
            set(answer.tolist()) == set(pair.labels) and not alone
            for answer, alone, pair in zip(answers, one_digit, pairs, strict=True))

    assert script.main(["--count", "2", "--weights", str(weights_folder)]) == 0
    table = capsys.readouterr().out
    assert "| capsnet |" in table and "| cnn |" in table and "2 drawn pairs" in table


def test_script_compares_each_model_pair_by_pair_against_other_weights(pair_lab,
                                                                       weights_folder,
                                                                       yardstick, tmp_path,
                                                                       capsys):
    """`--against` reads the same pairs with other weights (untrained ones here, which miss
    almost every pair) and counts, per model, the pairs only one side names both digits of."""
    from capsnet import checkpoints
    from capsnet.config import CapsNetConfig, CNNConfig
    from capsnet.models import build_capsnet, build_cnn
    from capsnet.paired import mcnemar_p
    from capsnet.two_digits import TwoDigitLab

    for name, built in (("multimnist_capsnet", build_capsnet(CapsNetConfig.for_pairs(), seed=0)),
                        ("multimnist_cnn", build_cnn(CNNConfig.for_pairs(), seed=0))):
        checkpoints.save(name, built.model, built.config, {"model": name}, tmp_path, "float16")
    other_lab = TwoDigitLab.load(tmp_path)
    script = load_script("drawn_pairs")
    assert script.main(["--count", str(COUNT), "--weights", str(weights_folder), "--against",
                        str(tmp_path), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    pairs = [drawn.drawn_pair(index, yardstick) for index in range(COUNT)]
    for model in ("capsnet", "cnn"):
        right = []
        for lab in (pair_lab, other_lab):
            read = [lab.analyze_drawing(pair.canvas, ink="light") for pair in pairs]
            answers = [getattr(a, f"{model}_answers") for a in read]
            right.append(np.array([set(answer.tolist()) == set(pair.labels)
                                   for answer, pair in zip(answers, pairs, strict=True)]))
        wins, losses = int((right[0] & ~right[1]).sum()), int((right[1] & ~right[0]).sum())
        assert figures[model]["against"] == {
            "test_errors": int((~right[1]).sum()), "wins": wins, "losses": losses,
            "mcnemar_p": pytest.approx(mcnemar_p(wins, losses), abs=1e-6)}
    assert "against" not in json.dumps(figures["capsnet"]["per_band"])

    assert script.main(["--count", "2", "--weights", str(weights_folder), "--against",
                        str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "capsnet: " in table and "pairs named only with these weights" in table
    assert "exact McNemar p =" in table and str(tmp_path) not in table


def test_script_records_each_models_figure_for_the_page(weights_folder, tmp_path, capsys):
    import shutil

    from capsnet import checkpoints
    from capsnet.two_digits import TwoDigitLab, measured_note

    for name in ("multimnist_capsnet", "multimnist_cnn"):
        for path in checkpoints.paths(name, weights_folder):
            shutil.copy(path, tmp_path / path.name)
    script = load_script("drawn_pairs")
    assert script.main(["--count", "3", "--weights", str(tmp_path), "--json", "--record"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for model, name in (("capsnet", "multimnist_capsnet"), ("cnn", "multimnist_cnn")):
        recorded = checkpoints.read_metrics(name, tmp_path)["drawn_pairs"]
        assert recorded["count"] == 3
        assert recorded["accuracy"] == round(figures[model]["right"] / 3, 4)
        assert recorded["shown_accuracy"] == round(figures[model]["shown_right"] / 3, 4)
    lab = TwoDigitLab.load(tmp_path)  # the checksums still hold
    note = measured_note(lab.metrics)
    assert note.count("of 3 drawn pairs") == 2
    for model, label in (("capsnet", "CapsNet"), ("cnn", "CNN")):
        shown = figures[model]["shown_right"] / 3  # what the page shows, not the top two
        assert f"the {label} names both digits" in note
        assert f"of {shown:.1%} of 3 drawn pairs" in note


def test_script_says_what_is_missing_without_a_trace(tmp_path, capsys):
    script = load_script("drawn_pairs")
    assert script.main(["--count", "2", "--weights", str(tmp_path)]) == 1
    message = capsys.readouterr().err
    assert "multimnist" in message and "Traceback" not in message
    assert script.main(["--count", "2", "--yardstick", str(tmp_path / "none.npz")]) == 1
    assert "No drawn-digit yardstick" in capsys.readouterr().err
