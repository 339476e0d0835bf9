"""The Streamlit page, in parts: `app.py` sets the page up and calls them in order.

- `state`: the session state the page keeps (UI state only) and the callbacks that change it.
- `resources`: the models, shared by every session and loaded in the background from the
  first request, the committed sample, and the cached results that cost a model call.
- `inputs`: the canvas, the upload, the gallery of test digits, and which of them is read.
- `sidebar`: the pen, the gallery and the models' test scores.
- `reading`: the canvas, the model input, both answers and the open view, in one fragment,
  so that a stroke reruns only what depends on the drawing.
- `views`: the seven tabs below the answers, one module each; only the open one runs.
- `charts`, `display`: plotly figures, and how the page shows them.

The model library (`capsnet.layers`, `capsnet.inference`, ...) never imports this package,
so training and the command line run where Streamlit and plotly are not installed.
"""
