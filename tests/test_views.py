"""The page's analysis views, driven through AppTest and checked against the `Lab` itself.

Like tests/test_app.py, these hold for any weights, trained or not: each view must show what
the Lab, the routing summaries and the metrics files give for the same input.
"""

import json
import math

import numpy as np
import pytest
from conftest import ROOT
from page_reading import array, chart, metrics, run
from streamlit.testing.v1 import AppTest

from capsnet import checkpoints, dimensions, robustness, routing, transforms
from capsnet.benchmark import canvas_drawing
from capsnet.samples import load_sample

APP = str(ROOT / "app.py")
TIMEOUT = 180  # seconds: the first run loads both models; the disagreement view reads 300
ROUTING_VIEW = "Routing by agreement"
TRANSFORM_VIEW = "Bend the input"
ROBUSTNESS_VIEW = "Robustness"
DISAGREEMENT_VIEW = "Where they disagree"
REPORT_VIEW = "Model report"
POSE_VIEW = "Reconstruct and pose"
VIEWS = (ROUTING_VIEW, TRANSFORM_VIEW, ROBUSTNESS_VIEW, DISAGREEMENT_VIEW, REPORT_VIEW)
GALLERY_DIGIT = 7  # a position in the committed sample


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture
def app(weights_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("CAPSNET_WEIGHTS", str(weights_folder))
    # the committed report, if any, is not this test's business: each test writes its own
    monkeypatch.setattr(robustness, "REPORT_PATH", tmp_path / "robustness.json")
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def open_gallery_digit(at: AppTest, index: int, view: str) -> AppTest:
    at.session_state["source"] = "gallery"
    at.session_state["gallery_index"] = index
    at.session_state["view"] = view
    return run(at)


def gallery_image(sample, index: int) -> np.ndarray:
    return sample.images[index].astype("float32") / 255.0


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_runs_on_a_drawing(app, sample, view):
    app.session_state["injected_image"] = canvas_drawing(sample.images[GALLERY_DIGIT])
    app.session_state["view"] = view
    run(app)
    assert not app.error
    assert not any("fills in once" in caption.value for caption in app.caption)


def test_routing_view_shows_the_labs_couplings(app, lab, sample):
    expected = lab.analyze(gallery_image(sample, GALLERY_DIGIT))
    winner = expected.capsnet_label
    open_gallery_digit(app, GALLERY_DIGIT, ROUTING_VIEW)

    maps = chart(app, "routing_maps")["data"]
    reference = routing.position_maps(expected.couplings, winner)
    assert len(maps) == len(expected.couplings) == 3
    for t, trace in enumerate(maps):
        np.testing.assert_allclose(array(trace["z"]), reference[t], atol=1e-6)
    np.testing.assert_allclose(array(maps[0]["z"]), 0.1, atol=1e-6)  # uniform by construction

    types = array(chart(app, "routing_types")["data"][0]["z"])
    np.testing.assert_allclose(types, routing.type_profile(expected.couplings, winner),
                               atol=1e-6)
    tiled = array(chart(app, "routing_type_maps")["data"][0]["z"])
    last = routing.on_grid(expected.couplings, winner)[-1]
    np.testing.assert_allclose(tiled[7:13, 14:20], last[..., 10], atol=1e-6)  # type 10

    entropy = routing.mean_entropy(expected.couplings)
    shown = metrics(app)
    for t in range(3):
        assert shown[f"Iteration {t + 1}: coupling entropy"] == f"{entropy[t]:.2f} bits"
    assert shown["Iteration 1: coupling entropy"] == f"{math.log2(10):.2f} bits"
    assert any(f"winning **{winner}** capsule" in m.value for m in app.markdown)

    app.radio(key="routing_reduce").set_value("max")
    run(app)
    largest = routing.position_maps(expected.couplings, winner, "max")
    np.testing.assert_allclose(array(chart(app, "routing_maps")["data"][2]["z"]), largest[2],
                               atol=1e-6)


def test_routing_view_reads_the_digit_again_with_the_chosen_iteration_count(app, lab, sample):
    image = gallery_image(sample, GALLERY_DIGIT)
    trained, unrouted = lab.analyze(image), lab.analyze(image, routings=1)
    open_gallery_digit(app, GALLERY_DIGIT, ROUTING_VIEW)
    assert "routing_bars_3" not in [c.key for c in app.get("plotly_chart")]  # as trained: one

    app.segmented_control(key="routing_iterations").set_value(1)
    run(app)
    for key, reading in (("routing_bars_3", trained), ("routing_bars_1", unrouted)):
        np.testing.assert_allclose(array(chart(app, key)["data"][0]["y"]),
                                   reading.capsnet_lengths, atol=1e-6)
    np.testing.assert_allclose(array(chart(app, "routing_reconstruction_1")["data"][0]["z"]),
                               unrouted.reconstruction, atol=1e-6)
    shown = metrics(app)
    assert shown["CapsNet, 1 iteration"] == str(unrouted.capsnet_label)
    assert shown["CapsNet, 3 iterations"] == str(trained.capsnet_label)
    # the maps below are the chosen reading's: one iteration, uniform couplings
    maps = chart(app, "routing_maps")["data"]
    assert len(maps) == 1
    np.testing.assert_allclose(array(maps[0]["z"]), 0.1, atol=1e-6)
    assert shown["Iteration 1: coupling entropy"] == f"{math.log2(10):.2f} bits"


def test_routing_view_shows_the_measured_table_and_the_papers(app):
    open_gallery_digit(app, GALLERY_DIGIT, ROUTING_VIEW)
    text = "\n".join(m.value for m in app.markdown)
    report = routing.load_report()
    for row in report["sets"]["mnist_test"]["rows"]:
        assert f"| {100 * row['accuracy']:.2f}% | {row['winning_length']:.3f} |" in text
    assert "| 1 (no routing) |" in text and "| 3 (trained) |" in text
    for title in ("Capsule Networks with Max-Min Normalization",
                  "Capsule Networks Need an Improved Routing Algorithm",
                  "Improving the Robustness of Capsule Networks to Image Affine"):
        assert title in text
    assert not app.warning  # the committed table is for the shipped weights


@pytest.mark.parametrize("case", ["missing", "other weights", "unreadable"])
def test_routing_view_says_what_is_wrong_with_the_table(app, monkeypatch, tmp_path, case):
    path = tmp_path / "routing.json"
    if case != "missing":
        report = json.loads(routing.REPORT_PATH.read_text())
        if case == "other weights":
            report["weights_sha256"] = "0" * 64
        else:
            del report["sets"]
        path.write_text(json.dumps(report))
    monkeypatch.setattr(routing, "REPORT_PATH", path)
    open_gallery_digit(app, GALLERY_DIGIT, ROUTING_VIEW)
    notes = [note.value for note in [*app.info, *app.warning]]
    expected = {"missing": "No routing table has been measured yet",
                "other weights": "measured with other CapsNet weights",
                "unreadable": "is unreadable"}[case]
    assert any(expected in note and "routing_report.py" in note for note in notes), notes
    assert chart(app, "routing_maps")  # the rest of the view is there


def test_transform_view_answers_as_the_lab_does(app, lab, sample):
    image = gallery_image(sample, GALLERY_DIGIT)
    open_gallery_digit(app, GALLERY_DIGIT, TRANSFORM_VIEW)
    shown = metrics(app)
    # unchanged, the playground answers what the page's verdict answers
    assert shown["CNN reads"] == shown["CNN"]
    assert shown["CapsNet reads"] == shown["CapsNet"]
    np.testing.assert_array_equal(array(chart(app, "play_input")["data"][0]["z"]), image)

    app.slider(key="play_rotation").set_value(30.0)
    app.slider(key="play_shift_x").set_value(-2)
    app.slider(key="play_stroke").set_value(1)
    run(app)
    bent = transforms.apply(image, transforms.Transform(rotation=30, shift_x=-2, stroke=1))
    expected = lab.analyze(bent)
    np.testing.assert_allclose(array(chart(app, "play_input")["data"][0]["z"]), bent,
                               atol=1e-6)
    np.testing.assert_allclose(array(chart(app, "play_reconstruction")["data"][0]["z"]),
                               expected.reconstruction, atol=1e-4)
    shown = metrics(app)
    assert shown["CNN reads"] == str(expected.cnn_label)
    assert shown["CapsNet reads"] == str(expected.capsnet_label)

    next(b for b in app.button if b.label == "Undo all changes").click()
    run(app)
    assert app.slider(key="play_rotation").value == 0.0
    np.testing.assert_array_equal(array(chart(app, "play_input")["data"][0]["z"]), image)


def test_sweeps_follow_the_true_class_over_the_expected_steps(app, lab, sample):
    image = gallery_image(sample, GALLERY_DIGIT)
    label = int(sample.labels[GALLERY_DIGIT])
    open_gallery_digit(app, GALLERY_DIGIT, TRANSFORM_VIEW)

    rotation = chart(app, "sweep_rotation")["data"]
    assert [trace["name"] for trace in rotation] == ["CNN probability", "CapsNet length"]
    for trace in rotation:
        assert array(trace["x"]).tolist() == list(range(-60, 61, 5))
    results = lab.analyze_batch(transforms.rotation_sweep(image))
    np.testing.assert_allclose(array(rotation[0]["y"]),
                               [r.cnn_probabilities[label] for r in results], atol=1e-5)
    np.testing.assert_allclose(array(rotation[1]["y"]),
                               [r.capsnet_lengths[label] for r in results], atol=1e-5)

    shift = chart(app, "sweep_shift")["data"]
    assert len(shift) == 4
    for trace in shift:
        assert array(trace["x"]).tolist() == list(range(-6, 7))
    assert any(f"the label {label}" in m.value for m in app.markdown)


def test_sweeps_of_a_drawing_follow_the_models_answer(app, sample):
    app.session_state["injected_image"] = canvas_drawing(sample.images[GALLERY_DIGIT])
    app.session_state["view"] = TRANSFORM_VIEW
    run(app)
    shown = metrics(app)
    text = " ".join(m.value for m in app.markdown)
    if shown["CNN"] == shown["CapsNet"]:
        assert f"the class both models give the unchanged input, {shown['CNN']}" in text
    else:
        assert "its own answer for the unchanged input" in text


def write_report(path, sha256s: dict, images: int = 10_000) -> dict:
    report = {
        "images": images, "seed": 0,
        "rotation": {"degrees": list(robustness.ROTATIONS),
                     "accuracy": {"cnn": [0.5, 0.8, 0.95, 0.99, 0.96, 0.82, 0.55],
                                  "capsnet": [0.6, 0.85, 0.97, 0.99, 0.97, 0.86, 0.62]}},
        "shift": {"pixels": list(robustness.SHIFTS),
                  "directions": "one of the 8 directions per image, at random (seed 0)",
                  "accuracy": {"cnn": [0.99, 0.98, 0.7, 0.3],
                               "capsnet": [0.99, 0.99, 0.8, 0.4]}},
        "weights_sha256": sha256s,
    }
    path.write_text(json.dumps(report))
    return report


def current_sha256s(folder) -> dict[str, str]:
    return {name: checkpoints.sha256(checkpoints.paths(name, folder)[0])
            for name in checkpoints.MODEL_NAMES}


def test_robustness_view_says_when_there_is_no_report(app):
    open_gallery_digit(app, GALLERY_DIGIT, ROBUSTNESS_VIEW)
    assert any("No robustness report" in info.value for info in app.info)
    assert "robustness_rotation" not in [e.key for e in app.get("plotly_chart")]


def test_robustness_view_plots_the_report(app, weights_folder):
    report = write_report(robustness.REPORT_PATH, current_sha256s(weights_folder))
    open_gallery_digit(app, GALLERY_DIGIT, ROBUSTNESS_VIEW)
    for key, kind, unit in (("robustness_rotation", "rotation", "degrees"),
                            ("robustness_shift", "shift", "pixels")):
        lines = chart(app, key)["data"]
        assert [line["name"] for line in lines] == ["CNN", "CapsNet"]
        for line, name in zip(lines, ("cnn", "capsnet"), strict=True):
            assert array(line["x"]).tolist() == report[kind][unit]
            np.testing.assert_allclose(array(line["y"]), report[kind]["accuracy"][name])
    assert not any("other" in warning.value for warning in app.warning)


def test_robustness_view_warns_about_other_weights_and_partial_runs(app, weights_folder):
    sha256s = current_sha256s(weights_folder)
    sha256s["capsnet"] = "0" * 64
    write_report(robustness.REPORT_PATH, sha256s, images=500)
    open_gallery_digit(app, GALLERY_DIGIT, ROBUSTNESS_VIEW)
    assert any("other CapsNet weights" in warning.value for warning in app.warning)
    assert any("first 500 test digits" in caption.value for caption in app.caption)
    chart(app, "robustness_rotation")  # still plotted, with the warning above it


def test_disagreement_view_lists_digits_the_models_read_differently(app, lab, sample):
    open_gallery_digit(app, GALLERY_DIGIT, DISAGREEMENT_VIEW)
    buttons = [b for b in app.button if b.key and b.key.startswith("disagreement_")]
    kind = "disagreement" if np.any(sample.kind == "disagreement") else "random"
    if not buttons:
        # the documented empty message, and it must be true
        assert any("agree on all" in info.value for info in app.info)
        candidates = np.flatnonzero(sample.kind == kind)
        results = lab.analyze_batch(sample.images[candidates].astype("float32") / 255.0)
        assert all(result.agree for result in results)
        return
    indices = [int(b.key.removeprefix("disagreement_")) for b in buttons]
    assert len(indices) <= 12
    assert all(sample.kind[i] == kind for i in indices)
    for index in indices:
        assert not lab.analyze(gallery_image(sample, index)).agree
    chosen = app.radio(key="disagreement_kind").value
    for index in indices:
        result = lab.analyze(gallery_image(sample, index))
        right = {"capsnet": result.capsnet_label, "cnn": result.cnn_label}.get(chosen)
        if right is None:
            assert sample.labels[index] not in (result.cnn_label, result.capsnet_label)
        else:
            assert right == sample.labels[index]

    buttons[0].click()
    run(app)
    assert app.session_state["source"] == "gallery"
    assert app.session_state["gallery_index"] == indices[0]
    assert any(f"#{sample.test_index[indices[0]]}" in c.value for c in app.caption)


def test_model_report_shows_the_metrics_files(app, weights_folder):
    open_gallery_digit(app, GALLERY_DIGIT, REPORT_VIEW)
    text = "\n".join(m.value for m in app.markdown)
    for name in checkpoints.MODEL_NAMES:
        record = checkpoints.read_metrics(name, weights_folder)
        if "test_accuracy" in record:
            assert f"{100 * record['test_accuracy']:.2f}%" in text
            assert f"({record['test_errors']} errors in" in text
        if "parameters" in record:
            assert f"{record['parameters']:,}" in text
        if "confusion_matrix" in record:
            figure = chart(app, f"confusion_{name}")
            np.testing.assert_array_equal(array(figure["data"][0]["text"]),
                                          record["confusion_matrix"])
        drawn = record.get("drawn")
        if drawn:  # the yardstick's figures, overall and per size band, with error counts
            assert f"{100 * drawn['accuracy']:.2f}% ({drawn['errors']} errors in" in text
            for band in drawn["per_band"].values():
                assert f"{100 * band['accuracy']:.2f}%" in text
        train = record.get("train") or {}
        if train.get("augment") == "drawing":
            assert f"drawing style ({100 * train['drawing']['rate']:.0f}% of images)" in text
        history = record.get("history") or []
        if history:
            lines = chart(app, "training_accuracy")["data"]
            line = next(line for line in lines
                        if line["name"].startswith({"cnn": "CNN", "capsnet": "CapsNet"}[name])
                        and "validation" in line["name"])
            # a run continued from earlier weights numbers its epochs after theirs
            before = (record.get("init") or {}).get("epochs_run") or 0
            assert array(line["x"]).tolist() == [before + entry["epoch"] for entry in history]
            np.testing.assert_allclose(array(line["y"]),
                                       [entry["val_accuracy"] for entry in history])
    epochs = [checkpoints.read_metrics(name, weights_folder).get("epochs_run")
              for name in checkpoints.MODEL_NAMES]
    if None not in epochs:
        before = [(checkpoints.read_metrics(name, weights_folder).get("init") or {})
                  .get("epochs_run") or 0 for name in checkpoints.MODEL_NAMES]
        assert f"| Epochs | {epochs[0] + before[0]} | {epochs[1] + before[1]} |" in text
    assert any("ms through both models" in c.value for c in app.caption)


# --- What each pose dimension does ------------------------------------------------------


def pose_labels(at: AppTest) -> list[str]:
    """The server-side pose sliders' labels, in order (AppTest has no browser decoder)."""
    sliders = {slider.key: slider for slider in at.slider}
    return [sliders[f"pose_{d}"].label for d in range(16)]


def live_pose_labels(at: AppTest) -> dict:
    mounted = [element.proto for element in at.get("bidi_component")
               if element.proto.component_name == "capsnet.live_pose"]
    data = json.loads(mounted[0].json)
    return {"labels": data["labels"], "details": data["details"]}


def test_pose_sliders_and_grid_are_named_from_the_report_for_the_class_shown(app, lab, sample):
    report = dimensions.load_report()
    if report is None:
        pytest.skip("no committed dimensions report")
    digit = lab.analyze(gallery_image(sample, GALLERY_DIGIT)).capsnet_label
    open_gallery_digit(app, GALLERY_DIGIT, POSE_VIEW)
    assert not app.warning and not app.info

    def expected(chosen: int) -> list[str]:
        return [f"Dimension {entry['dimension']}: {entry['name']}"
                for entry in report["classes"][str(chosen)]["dimensions"]]

    shown = {}
    for chosen in (digit, (digit + 1) % 10):
        if chosen != digit:
            app.selectbox(key="recon_digit").set_value(chosen)
            run(app)
        entries = report["classes"][str(chosen)]["dimensions"]
        assert pose_labels(app) == expected(chosen)
        sliders = {slider.key: slider for slider in app.slider}
        assert sliders["pose_5"].help == dimensions.describe(entries[5])
        assert f"{entries[5]['changes']['width']:+.2f} px" in sliders["pose_5"].help
        assert live_pose_labels(app) == {"labels": expected(chosen),
                                         "details": [dimensions.describe(e) for e in entries]}
        ticks = chart(app, "pose_grid")["layout"]["yaxis"]["ticktext"]
        assert ticks == [label.removeprefix("Dimension ") for label in expected(chosen)]
        cells = chart(app, "pose_dimensions")["data"][0]
        np.testing.assert_allclose(
            array(cells["z"]), [[e["scaled"][key] for key in dimensions.NAMING] for e in entries])
        assert list(cells["x"]) == [dimensions.PROPERTIES[key][0] for key in dimensions.NAMING]
        mixed = sum(entry["kind"] == "mixed" for entry in entries)
        assert any(f"{mixed} are mixed" in block.value and "Sabour et al." in block.value
                   for block in app.markdown)
        shown[chosen] = pose_labels(app)
    # the names follow the class picker: they differ where the report's names differ
    first, second = digit, (digit + 1) % 10
    differs = [a["name"] != b["name"] for a, b in zip(
        report["classes"][str(first)]["dimensions"], report["classes"][str(second)]["dimensions"],
        strict=True)]
    assert [a != b for a, b in zip(shown[first], shown[second], strict=True)] == differs


@pytest.mark.parametrize("case", ["missing", "unreadable", "other weights", "no such class"])
def test_pose_view_without_a_usable_report_says_why(app, monkeypatch, tmp_path, sample, lab,
                                                     case):
    path = tmp_path / "dimensions.json"
    report = json.loads(dimensions.REPORT_PATH.read_text())
    digit = lab.analyze(gallery_image(sample, GALLERY_DIGIT)).capsnet_label
    if case == "unreadable":
        path.write_text('{"classes": {"3": {"dimensions": [{"dimension": 1}]}}}')
    elif case == "other weights":
        path.write_text(json.dumps({**report, "weights_sha256": "0" * 64}))
    elif case == "no such class":
        del report["classes"][str(digit)]
        path.write_text(json.dumps(report))
    monkeypatch.setattr(dimensions, "REPORT_PATH", path)
    open_gallery_digit(app, GALLERY_DIGIT, POSE_VIEW)
    assert pose_labels(app) == [f"Dimension {d}" for d in range(1, 17)]
    notes = [note.value for note in [*app.info, *app.warning]]
    expected = {"missing": "has not been measured yet", "unreadable": "is unreadable",
                "other weights": "other CapsNet weights", "no such class": f"digit {digit}"}[case]
    assert any(expected in note and "dimensions_report.py" in note for note in notes), notes
    assert not any(str(tmp_path) in note for note in notes)
    if case == "unreadable":
        assert any("dimensions.json" in note for note in notes)
    assert "pose_dimensions" not in [c.key for c in app.get("plotly_chart")]
    assert chart(app, "pose_grid")["layout"]["yaxis"]["ticktext"] == [str(d) for d in range(1, 17)]
