"""Bend the input: rotate, shift, scale, shear and thicken the 28x28 model input and watch both
answers follow; below, each model's confidence under wider sweeps of rotations and shifts."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsnet import transforms
from capsnet.config import NUM_CLASSES
from capsnet.inference import Analysis
from capsnet.page import charts
from capsnet.page.display import PLOT_CONFIG, captioned_image
from capsnet.page.resources import ANALYSIS_CACHE, analyse, load_lab, sample_digits

TRANSFORM_DEFAULTS = {"play_rotation": 0.0, "play_shift_x": 0, "play_shift_y": 0,
                      "play_scale": 1.0, "play_shear": 0.0, "play_stroke": 0}
TRANSFORM_STEP = 0.05  # slider step of scale and shear
PLAY_IMAGE_HEIGHT = 220  # pixels: the bent input and its reconstruction side by side


def reset_transform() -> None:
    for key, value in TRANSFORM_DEFAULTS.items():
        st.session_state[key] = value


def transform_controls() -> transforms.Transform:
    """Sliders for each change; the transform they set."""
    for key, value in TRANSFORM_DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    limit, shift = transforms.ROTATION_LIMIT, transforms.SHIFT_LIMIT
    left, right = st.columns(2)
    rotation = left.slider("Rotate (degrees, counter-clockwise)", -limit, limit, step=1.0,
                           format="%+.0f°", key="play_rotation")
    shift_x = left.slider("Shift right (pixels)", -shift, shift, step=1, format="%+d",
                          key="play_shift_x")
    shift_y = left.slider("Shift down (pixels)", -shift, shift, step=1, format="%+d",
                          key="play_shift_y")
    scale = right.slider("Scale", *transforms.SCALE_RANGE, step=TRANSFORM_STEP,
                         format="%.2f×", key="play_scale")
    shear = right.slider("Shear (positive leans the top right)", -transforms.SHEAR_LIMIT,
                         transforms.SHEAR_LIMIT, step=TRANSFORM_STEP, format="%+.2f",
                         key="play_shear")
    stroke = right.slider("Stroke width (pixels added)", -transforms.STROKE_LIMIT,
                          transforms.STROKE_LIMIT, step=1, format="%+d", key="play_stroke")
    return transforms.Transform(rotation=rotation, shift_x=shift_x, shift_y=shift_y,
                                scale=scale, shear=shear, stroke=stroke)


@st.fragment
def transform_panel(folder: str, image: np.ndarray) -> None:
    """The sliders, the bent input, its reconstruction and both answers; reruns alone."""
    transform = transform_controls()
    st.button("Undo all changes", on_click=reset_transform, icon=":material/restart_alt:")
    bent = transforms.apply(image, transform)
    result = analyse(folder, bent)
    shown, rebuilt, answers = st.columns([1, 1, 1.4])
    with shown:
        captioned_image("What the models now see", bent, "play_input", PLAY_IMAGE_HEIGHT)
    with rebuilt:
        captioned_image(f"Decoded from the {result.capsnet_label} capsule",
                        result.reconstruction, "play_reconstruction", PLAY_IMAGE_HEIGHT)
    with answers:
        cnn, capsnet = st.columns(2)
        cnn.metric("CNN reads", str(result.cnn_label))
        cnn.caption(f"{result.cnn_probabilities[result.cnn_label]:.0%} probability")
        capsnet.metric("CapsNet reads", str(result.capsnet_label))
        capsnet.caption(f"capsule length {result.capsnet_lengths[result.capsnet_label]:.2f}")
        st.caption("A CapsNet's pose dimensions should follow such changes, so the decoder "
                   "redraws the bent digit; a CNN has only its answer to give.")


@st.cache_data(max_entries=ANALYSIS_CACHE, show_spinner="Sweeping rotations and shifts...")
def sweep_scores(folder: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """Both models' scores for every class under each swept rotation and shift.

    Returns:
        `{"rotation_cnn", "rotation_capsnet"}`: `(angles, 10)`; `{"shift_cnn",
        "shift_capsnet"}`: `(2, offsets, 10)`, horizontal shifts first, then vertical.
    """
    lab = load_lab(folder)
    scores = {}
    rotated = lab.analyze_batch(transforms.rotation_sweep(image))
    shifted = lab.analyze_batch(transforms.shift_sweep(image).reshape(-1, *image.shape))
    for kind, results in (("rotation", rotated), ("shift", shifted)):
        scores[f"{kind}_cnn"] = np.stack([r.cnn_probabilities for r in results])
        scores[f"{kind}_capsnet"] = np.stack([r.capsnet_lengths for r in results])
    for name in ("cnn", "capsnet"):
        scores[f"shift_{name}"] = scores[f"shift_{name}"].reshape(2, -1, NUM_CLASSES)
    return scores


def tracked_classes(analysis: Analysis) -> tuple[dict[str, int], str]:
    """The class whose score each model's sweep follows, and a sentence saying why."""
    index = st.session_state["gallery_index"]
    if (st.session_state.get("injected_image") is None
            and st.session_state["source"] == "gallery" and index is not None):
        label = int(sample_digits().labels[index])
        return {"cnn": label, "capsnet": label}, f"its true class, the label {label}"
    if analysis.agree:
        return ({"cnn": analysis.cnn_label, "capsnet": analysis.capsnet_label},
                f"the class both models give the unchanged input, {analysis.cnn_label}")
    return ({"cnn": analysis.cnn_label, "capsnet": analysis.capsnet_label},
            f"its own answer for the unchanged input (the CNN's {analysis.cnn_label}, the "
            f"CapsNet's {analysis.capsnet_label}), as the models disagree")


def steadiness(title: str, scores: dict[str, np.ndarray], target: int) -> str:
    """In words: over which stretch of each sweep a model's answer stays `target`."""
    stretches = [
        transforms.steady_range(amounts, values.argmax(axis=-1) == target)
        for amounts, values in ((transforms.SWEEP_ROTATIONS, scores["rotation"]),
                                (transforms.SWEEP_SHIFTS, scores["shift"][0]),
                                (transforms.SWEEP_SHIFTS, scores["shift"][1]))
    ]
    if stretches[0] is None:
        return f"The {title} does not answer {target} even for the unchanged input."
    (low, high), across, down = stretches
    return (f"The {title} answers {target} from {low:+g}° to {high:+g}°, from "
            f"{across[0]:+g} to {across[1]:+g} pixels across and from {down[0]:+g} to "
            f"{down[1]:+g} pixels down.")


def sweep_panel(folder: str, analysis: Analysis) -> None:
    targets, why = tracked_classes(analysis)
    scores = sweep_scores(folder, analysis.image)
    names = {"cnn": "CNN probability", "capsnet": "CapsNet length"}
    angles, offsets = transforms.SWEEP_ROTATIONS, transforms.SWEEP_SHIFTS
    st.markdown("**Sweeps.** Each model's confidence (the CNN's probability, the CapsNet's "
                f"capsule length) in {why}, as the unchanged input is rotated or shifted "
                "further than the sliders go. Each sweep is one batch through both models.")
    rotation, shift = st.columns(2)
    rotation.plotly_chart(charts.lines_figure(
        angles, [{"name": names[m], "model": m, "y": scores[f"rotation_{m}"][:, targets[m]]}
                 for m in names],
        "Confidence under rotation", "rotation (degrees)", "confidence"),
        key="sweep_rotation", config=PLOT_CONFIG)
    lines = [{"name": f"{names[m]}, {direction}", "model": m, "dash": dash,
              "y": scores[f"shift_{m}"][axis, :, targets[m]]}
             for m in names
             for axis, direction, dash in ((0, "to the right", "solid"), (1, "down", "dot"))]
    shift.plotly_chart(charts.lines_figure(
        offsets, lines, "Confidence under shifts", "shift (pixels)", "confidence"),
        key="sweep_shift", config=PLOT_CONFIG)
    st.caption(" ".join(
        steadiness(charts.MODEL_TITLES[m], {"rotation": scores[f"rotation_{m}"],
                                            "shift": scores[f"shift_{m}"]}, targets[m])
        for m in names))


def render(folder: str, analysis: Analysis) -> None:
    st.markdown(
        "Rotate, shift, scale, shear, thicken or thin the 28×28 image the models read, and "
        "watch both answers and the CapsNet's reconstruction follow. The paper claims "
        "capsules cope better with changes of viewpoint than a CNN (Section 5.2: 79% against "
        "66% on affNIST, for models that saw only shifted MNIST). Training here saw shifts "
        "of up to 2 pixels and nothing else."
    )
    transform_panel(folder, analysis.image)
    sweep_panel(folder, analysis)

