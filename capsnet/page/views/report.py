"""Model report: both models as trained, from their metrics files, and their speed on this
server."""

from __future__ import annotations

import streamlit as st

from capsnet import checkpoints
from capsnet.config import MNIST_TEST_IMAGES
from capsnet.inference import Analysis
from capsnet.page import charts
from capsnet.page.display import PLOT_CONFIG
from capsnet.page.resources import load_lab, sample_digits

LOSS_NAMES = {"cnn": "cross-entropy", "capsnet": "margin + reconstruction"}
LATENCY_REPEATS = 5  # timed runs after a warm-up; the median is shown


@st.cache_resource(show_spinner="Timing the models on this server...")
def latency(folder: str) -> dict[str, float]:
    """Median seconds, on this server, of the page's two model calls for one image."""
    from capsnet.benchmark import median_seconds  # imports Keras: not before the canvas is up

    lab = load_lab(folder)
    image = sample_digits().images[0].astype("float32") / 255.0
    result = lab.analyze(image)
    return {
        "analysis": median_seconds(lambda: lab.analyze(image), LATENCY_REPEATS),
        "reconstruction": median_seconds(
            lambda: lab.reconstruct(result.capsules, result.capsnet_label), LATENCY_REPEATS),
    }


def report_cell(record: dict, name: str) -> str:
    """One fact from a metrics file, in words, or a dash where it was not recorded."""
    value = {**record, **checkpoints.training_totals(record)}.get(name)
    if value is None:
        return "—"
    if name == "test_accuracy":
        errors = record.get("test_errors")
        images = record.get("test_images", MNIST_TEST_IMAGES)
        suffix = f" ({errors} errors in {images:,})" if errors is not None else ""
        return f"{100 * value:.2f}%{suffix}"
    if name == "training_seconds":
        return f"{value / 60:.0f} min"
    if name == "parameters":
        return f"{value:,}"
    return str(value)


def drawn_cell(record: dict, band: str | None = None) -> str:
    """Accuracy on the drawn-digit yardstick (overall, or one size band), or a dash."""
    report = record.get("drawn") or {}
    group = report.get("per_band", {}).get(band) if band else report
    if not group or group.get("accuracy") is None:
        return "—"
    errors = round(group["count"] * (1 - group["accuracy"]))
    return f"{100 * group['accuracy']:.2f}% ({errors} errors in {group['count']:,})"


def recipe_cell(record: dict) -> str:
    """The training augmentation and the time per epoch, from a metrics file."""
    train = record.get("train") or {}
    if not train:
        return "—"
    shift = f"shifts of up to {train.get('max_shift', 2)} px"
    recipe = (f"drawing style ({100 * train['drawing']['rate']:.0f}% of images), then {shift}"
              if train.get("augment") == "drawing" and train.get("drawing") else shift)
    seconds = checkpoints.epoch_seconds(record)
    if seconds is not None:
        recipe += f"; {seconds:.1f} s per epoch"
    return recipe


def render(folder: str, analysis: Analysis) -> None:
    metrics = load_lab(folder).metrics
    st.markdown(
        "The two models as trained, from their metrics files. The paper reports 0.25% test "
        "error for this CapsNet (Table 1: three routing iterations, with the reconstruction "
        "loss) against 0.39% for a baseline CNN of 35.4M parameters."
    )
    rows = {"Parameters": "parameters", "MNIST test accuracy": "test_accuracy",
            "Epochs": "epochs_run", "Training time": "training_seconds",
            "Trained on": "device", "Backend": "backend"}
    table = ["| | CNN | CapsNet |", "|---|---:|---:|"]
    records = [metrics.get(name, {}) for name in ("cnn", "capsnet")]
    for title, field in rows.items():
        cells = [report_cell(record, field) for record in records]
        table.append(f"| {title} | {cells[0]} | {cells[1]} |")
    for title, band in (("Drawn digits", None), ("… drawn small", "small"),
                        ("… medium", "medium"), ("… large", "large")):
        cells = [drawn_cell(record, band) for record in records]
        table.append(f"| {title} | {cells[0]} | {cells[1]} |")
    cells = [recipe_cell(record) for record in records]
    table.append(f"| Training augmentation | {cells[0]} | {cells[1]} |")
    st.markdown("\n".join(table))
    st.caption(
        "Drawn digits: 2,100 synthetic canvas drawings (`capsnet/assets/drawn.npz`, made by "
        "`scripts/make_drawn.py` from hand-written stroke shapes, not MNIST, and never "
        "trained on): many pens, slants and ways of writing each digit, a third each drawn "
        "small (20–35% of the canvas high), medium and large, read through the page's own "
        "preprocessing. The drawing style makes MNIST digits look like canvas drawings in "
        "training: a little smaller or larger, narrower or wider, bent, with bolder or "
        "thinner and flatter strokes; no rotations.")
    times = latency(folder)
    st.caption(
        f"On this server, one image takes {times['analysis'] * 1e3:.0f} ms through both "
        f"models (with the CapsNet's routing and reconstruction) and a pose-slider "
        f"reconstruction {times['reconstruction'] * 1e3:.1f} ms: medians of "
        f"{LATENCY_REPEATS} runs. `python -m capsnet benchmark` times more.")
    columns = st.columns(2)
    for column, name in zip(columns, ("cnn", "capsnet"), strict=True):
        matrix = metrics.get(name, {}).get("confusion_matrix")
        title = charts.MODEL_TITLES[name]
        if matrix is None:
            column.caption(f"No confusion matrix recorded for the {title}.")
        else:
            column.plotly_chart(
                charts.confusion_figure(matrix, f"{title}: test digits by true digit and "
                                                "answer"),
                key=f"confusion_{name}", config=PLOT_CONFIG)
    st.caption("Coloured: the mistakes. The diagonal, the digits read right, is left dark.")
    histories = {name: metrics.get(name, {}).get("history") or [] for name in ("cnn", "capsnet")}
    if not any(histories.values()):
        st.caption("No training history recorded.")
        return
    accuracy, loss = [], []
    for name, history in histories.items():
        # A run continued from earlier weights numbers its epochs after theirs.
        before = (metrics.get(name, {}).get("init") or {}).get("epochs_run") or 0
        epochs = [before + entry["epoch"] for entry in history]
        title = charts.MODEL_TITLES[name]
        for field, words, dash in (("accuracy", "training", "dot"),
                                   ("val_accuracy", "validation", "solid")):
            if history and all(field in entry for entry in history):
                accuracy.append({"name": f"{title}, {words}", "model": name, "dash": dash,
                                 "x": epochs, "y": [entry[field] for entry in history]})
        if history and all("loss" in entry for entry in history):
            loss.append({"name": f"{title} ({LOSS_NAMES[name]})", "model": name, "x": epochs,
                         "y": [entry["loss"] for entry in history]})
    left, right = st.columns(2)
    left.plotly_chart(charts.lines_figure(None, accuracy, "Accuracy per epoch", "epoch",
                                          "accuracy", y_range=None),
                      key="training_accuracy", config=PLOT_CONFIG)
    right.plotly_chart(charts.lines_figure(None, loss, "Training loss per epoch", "epoch",
                                           "loss", y_range=None),
                       key="training_loss", config=PLOT_CONFIG)
    st.caption("Training accuracy is measured on shifted images while the weights change; "
               "validation accuracy on 5,000 held-out training images after each epoch. The "
               "two losses are different functions: compare their shapes, not their values.")

