"""The pose sliders with the decoder in the browser: a reconstruction that follows the finger.

A Streamlit slider sends its value when it is released, and the server then decodes and
sends a new image back, a round trip. This component holds the sixteen sliders of one
capsule and runs the CapsNet decoder itself (the masked 160-vector -> 512 ReLU -> 1024 ReLU
-> 784 sigmoid, 1.4M multiply-adds) in the browser on every movement, once per screen frame.
Its JavaScript and CSS are `live_pose.js` and `live_pose.css` beside this file.

What goes where, per session:
    - The decoder's weights go to the browser once, as float16 (2.8 MB; 3.8 MB of base64),
      with the component's data on each run until the browser reports the checksum of the
      weights it holds (its `decoder` state). A browser that has lost them (a reloaded page
      script) reports none and gets them again.
    - Every run sends the capsule, its class, the caption, the page's pose and each slider's
      label and hover text (what the dimension does for this class, `capsnet.dimensions`).
    - A released slider (or a key press on one) sends the whole pose back (`pose`), with
      the count of releases so far; that reruns the panel, so the rest of it (the error, the
      reset button) follows. Each run sends back the count it has taken, so that the browser
      never moves a slider back to a pose older than its last release, and takes the
      server's pose only when the server changed it (a reset).
Until the browser reports the weights (JavaScript off, the component not loaded, or a test
without a browser), `render` says so and the page shows its server-side sliders instead.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

KEY = "live_pose"  # the component's key
IN_BROWSER = "live_pose_decoder"  # session key: checksum of the weights the browser holds
POSE = "pose"  # session key: the change added to each dimension of the decoded capsule
RELEASES = "live_pose_releases"  # session key: the browser's releases taken into `pose`
HERE = Path(__file__).parent
HTML = '<p class="status">Starting the decoder in your browser...</p>'


@dataclass(frozen=True)
class DecoderPayload:
    """The decoder's dense layers as the browser reads them: each layer's kernel
    `(inputs, units)`, row-major, then its bias, little-endian, base64-encoded."""

    sha: str  # SHA-256 of the bytes encoded
    dtype: str  # "float16" or "float32"
    shapes: tuple[tuple[int, int], ...]  # `(inputs, units)` of each layer
    weights: str

    @classmethod
    def from_layers(cls, layers: list[tuple[np.ndarray, np.ndarray]],
                    dtype: str = "float16") -> DecoderPayload:
        if dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be float16 or float32. Received: dtype={dtype!r}")
        little_endian = np.dtype(dtype).newbyteorder("<")
        raw = b"".join(np.ascontiguousarray(array, dtype=little_endian).tobytes()
                       for layer in layers for array in layer)
        return cls(hashlib.sha256(raw).hexdigest(), dtype,
                   tuple((int(kernel.shape[0]), int(kernel.shape[1])) for kernel, _ in layers),
                   base64.b64encode(raw).decode("ascii"))

    def metadata(self) -> dict:
        """What the browser needs besides the weights themselves."""
        return {"sha": self.sha, "dtype": self.dtype, "shapes": self.shapes}


_component = st.components.v2.component(
    "capsnet.live_pose", html=HTML, css=(HERE / "live_pose.css").read_text(),
    js=(HERE / "live_pose.js").read_text(),
)


def current_pose(dimensions: int) -> list[float]:
    """The pose the page shows: what the last released slider or the reset left."""
    if len(st.session_state.get(POSE) or ()) != dimensions:
        st.session_state[POSE] = [0.0] * dimensions
    return st.session_state[POSE]


def _reported_weights() -> None:
    st.session_state[IN_BROWSER] = (st.session_state.get(KEY) or {}).get("decoder")


def _released(limit: float) -> None:
    """Takes the pose the browser sent, if it is one (16 numbers), clipped to the range."""
    sent = (st.session_state.get(KEY) or {}).get("pose") or {}
    values = sent.get("values") if isinstance(sent, dict) else None
    try:
        pose = np.clip(np.asarray(values, dtype="float64"), -limit, limit)
    except (TypeError, ValueError):
        return
    if pose.shape == (len(st.session_state.get(POSE) or ()),) and np.isfinite(pose).all():
        st.session_state[POSE] = [float(value) for value in pose]
        release = sent.get("release")
        st.session_state[RELEASES] = release if isinstance(release, int) else 0


def decodes_in_browser(payload: DecoderPayload) -> bool:
    """Whether this session's browser holds these weights and draws the reconstruction."""
    return st.session_state.get(IN_BROWSER) == payload.sha


def render(payload: DecoderPayload, capsule: np.ndarray, digit: int, caption: str,
           limit: float, step: float, labels: list[str] | None = None,
           details: list[str] | None = None) -> bool:
    """The sixteen sliders of `capsule` (the capsule of class `digit`) and its live
    reconstruction; the pose is `st.session_state["pose"]`.

    Args:
        labels: each slider's label (default "Dimension 1" to "Dimension 16").
        details: each slider's hover text (default none).

    Returns:
        Whether the browser decodes; if not, the caller shows server-side sliders.
    """
    in_browser = decodes_in_browser(payload)
    capsule = np.asarray(capsule, dtype="float32")
    data = {
        **payload.metadata(),
        "capsule": [float(value) for value in capsule],
        "digit": int(digit),
        "pose": current_pose(len(capsule)),
        "release": st.session_state.get(RELEASES, 0),
        "caption": caption,
        "range": limit,
        "step": step,
        "size": int(round(np.sqrt(payload.shapes[-1][1]))),
        "labels": labels or [f"Dimension {d + 1}" for d in range(len(capsule))],
        "details": details or [""] * len(capsule),
    }
    if not in_browser:
        data["weights"] = payload.weights
    _component(
        key=KEY, data=data, default={"decoder": st.session_state.get(IN_BROWSER), "pose": None},
        on_decoder_change=_reported_weights, on_pose_change=functools.partial(_released, limit),
    )
    return in_browser
