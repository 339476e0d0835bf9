"""Make the drawn-digit yardstick: seeded synthetic canvas drawings, no MNIST digit among them.

`python train.py evaluate --drawn` measures both models on it. Run from the project's root:

    python scripts/make_drawn.py
    python scripts/make_drawn.py --per-class 30 --out /tmp/drawn.npz --preview /tmp/drawn.png

`--preview` writes a grid of canvases, one row per digit, and `--preview-inputs` the same
drawings as the models see them (28x28), for a person to look at.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capsnet import drawn  # noqa: E402

PREVIEW_COLUMNS = 10  # drawings per digit in a preview: a run of 30 holds every band
PREVIEW_CELL = 112  # pixels per canvas in the preview (280 scaled by 0.4)
INPUT_SCALE = 3  # 28x28 model inputs enlarged to 84 pixels, without blurring
GAP, GAP_GREY = 4, 90  # the grey lines between cells


def grid(tiles: list[list[np.ndarray]]) -> Image.Image:
    """Greyscale tiles, rows of equal size, on a grey grid."""
    side = tiles[0][0].shape[0]
    sheet = Image.new("L", (len(tiles[0]) * (side + GAP) - GAP, len(tiles) * (side + GAP) - GAP),
                      GAP_GREY)
    for row, line in enumerate(tiles):
        for column, tile in enumerate(line):
            sheet.paste(Image.fromarray(tile), (column * (side + GAP), row * (side + GAP)))
    return sheet


def previews(seed: int, canvases: Path | None, inputs: Path | None) -> None:
    """Drawings 10 k + digit for k < 10: every digit in a row, bands and variants in turn."""
    rows = [[drawn.drawing(len(drawn.VARIANTS) * column + digit, seed)
             for column in range(PREVIEW_COLUMNS)] for digit in drawn.VARIANTS]
    if canvases is not None:
        tiles = [[np.asarray(Image.fromarray(made.canvas[..., 0]).resize(
            (PREVIEW_CELL, PREVIEW_CELL), Image.Resampling.BOX)) for made in row] for row in rows]
        grid(tiles).save(canvases)
        print(f"canvases: {canvases}", file=sys.stderr)
    if inputs is not None:
        tiles = [[np.kron(np.round(made.image * 255).astype("uint8"),
                          np.ones((INPUT_SCALE, INPUT_SCALE), "uint8")) for made in row]
                 for row in rows]
        grid(tiles).save(inputs)
        print(f"model inputs: {inputs}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--per-class", type=int, default=drawn.PER_CLASS,
                        help=f"drawings per digit, a multiple of {len(drawn.BANDS)} (one share "
                             f"per size band; default: {drawn.PER_CLASS})")
    parser.add_argument("--out", type=Path, default=drawn.DRAWN_PATH,
                        help=f"output file (default: {drawn.DRAWN_PATH})")
    parser.add_argument("--preview", type=Path, default=None,
                        help="also write a PNG grid of canvases, one row per digit")
    parser.add_argument("--preview-inputs", type=Path, default=None,
                        help="also write a PNG grid of the same drawings as 28x28 model inputs")
    args = parser.parse_args()

    start = time.perf_counter()
    yardstick = drawn.make(args.seed, args.per_class)
    seconds = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    yardstick.save(args.out)
    print(f"{len(yardstick)} drawings (seed {args.seed}) in {seconds:.1f} s -> {args.out} "
          f"({args.out.stat().st_size / 1024:.0f} KiB); {int(yardstick.redraws.sum())} redrawn")
    for name, values in (("digit", yardstick.labels), ("band", yardstick.bands),
                         ("pen style", yardstick.styles)):
        kinds, counts = np.unique(values, return_counts=True)
        print(f"  per {name}: " + ", ".join(f"{kind} {count}" for kind, count in
                                             zip(kinds.tolist(), counts.tolist(), strict=True)))
    if args.preview or args.preview_inputs:
        previews(args.seed, args.preview, args.preview_inputs)


if __name__ == "__main__":
    main()
