"""Reading the page in AppTest: run it, and decode its charts as the browser receives them."""

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure, as the browser receives it, of the chart with this key."""
    for element in at.get("plotly_chart"):
        if element.key == key:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r}; the page shows {chart_keys(at)}")


def chart_keys(at: AppTest) -> list[str]:
    return [element.key for element in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A plotly array: a plain list, or the typed base64 form plotly writes for numpy."""
    if isinstance(value, dict):
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return data.reshape([int(n) for n in shape.split(",")]) if shape else data
    return np.asarray(value)


def heatmap(at: AppTest, key: str) -> np.ndarray:
    return array(chart(at, key)["data"][0]["z"]).astype("float32")


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}
