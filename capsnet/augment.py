"""Training augmentation that makes MNIST digits look like drawings on the page's canvas.

People draw on the page with a round pen of even width and full intensity, at any size,
and the page's preprocessing scales the drawing into MNIST's 20-pixel box. What reaches the
models differs from MNIST's pen-on-paper digits in four ways, each undone here, per image:

- **proportions**: a digit a little smaller or larger than the box, narrower or wider;
- **the hand**: strokes that wobble and bend differently (a smooth elastic distortion);
- **stroke width**: thinner or bolder strokes than MNIST's median of 2.9 pixels;
- **ink**: flat, saturated strokes where MNIST's have soft grey profiles.

Every step is `keras.ops` alone (a gather for the resampling, max pools for the stroke), so
a whole train step stays compiled under XLA on JAX. Rotations and shifts are deliberately
absent: the page's rotation and shift sweeps test how each model generalises to them, and
the paper's shifts of up to 2 pixels come after this layer (`RandomShift`).
"""

from __future__ import annotations

import numpy as np
from keras import layers, ops, random, saving

from capsnet.config import DrawingAugment


def interpolation_matrix(size: int, points: int) -> np.ndarray:
    """`(size, points)` weights that linearly interpolate `points` evenly spaced control
    values (the first at pixel 0, the last at pixel `size - 1`) onto `size` pixels."""
    position = np.linspace(0.0, points - 1.0, size)
    below = np.minimum(np.floor(position).astype(int), points - 2)
    weight = position - below
    matrix = np.zeros((size, points), "float32")
    matrix[np.arange(size), below] = 1.0 - weight
    matrix[np.arange(size), below + 1] = weight
    return matrix


def bilinear_sample(images, rows, cols):
    """Samples images `(batch, height, width)` at real-valued coordinates of the same shape,
    bilinearly; coordinates outside the image read black."""
    height, width = images.shape[1], images.shape[2]
    flat = ops.reshape(images, (-1, height * width))
    row0, col0 = ops.floor(rows), ops.floor(cols)
    row_weight, col_weight = rows - row0, cols - col0

    def corner(row, col):
        inside = (row >= 0) & (row <= height - 1) & (col >= 0) & (col <= width - 1)
        index = (ops.clip(row, 0, height - 1) * width + ops.clip(col, 0, width - 1))
        index = ops.reshape(ops.cast(index, "int32"), (-1, height * width))
        values = ops.reshape(ops.take_along_axis(flat, index, axis=1), ops.shape(rows))
        return ops.where(inside, values, ops.zeros_like(values))

    return ((1 - row_weight) * (1 - col_weight) * corner(row0, col0)
            + (1 - row_weight) * col_weight * corner(row0, col0 + 1)
            + row_weight * (1 - col_weight) * corner(row0 + 1, col0)
            + row_weight * col_weight * corner(row0 + 1, col0 + 1))


@saving.register_keras_serializable(package="capsnet")
class DrawingStyle(layers.Layer):
    """Makes MNIST digits look like canvas drawings: rescales, bends, thickens or thins, and
    saturates each image at random (see the module's docstring). Active only in training.

    Args:
        rate: share of images changed; the others pass unchanged, so MNIST's own look
            stays in every batch.
        scale: range of the digit's size change about its centre of mass.
        aspect: largest relative change of width against height, either way.
        elastic: standard deviation in pixels of the displacement at each control point.
        elastic_grid: control points per side of the smooth displacement field.
        stroke: range of the stroke width change in pixels (negative thins).
        contrast: range of the gain on ink levels, clipped at 1 (saturated strokes).
        seed: seed of the random draws.

    Input shape:
        `(batch, height, width, 1)`.

    Output shape:
        Same as input.
    """

    def __init__(self, rate=0.5, scale=(0.85, 1.1), aspect=0.1, elastic=1.0,
                 elastic_grid=5, stroke=(-0.8, 2.0), contrast=(1.0, 1.6), seed=None,
                 **kwargs):
        # Computed in float32 under any dtype policy: under mixed_bfloat16 the random draws
        # and the resampling would otherwise mix float32 and bfloat16.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1]. Received: rate={rate}")
        if elastic_grid < 2:
            raise ValueError(f"elastic_grid must be at least 2. Received: {elastic_grid}")
        self.rate = float(rate)
        self.scale = tuple(float(v) for v in scale)
        self.aspect = float(aspect)
        self.elastic = float(elastic)
        self.elastic_grid = int(elastic_grid)
        self.stroke = tuple(float(v) for v in stroke)
        self.contrast = tuple(float(v) for v in contrast)
        self.seed = seed
        self.seed_generator = random.SeedGenerator(seed)

    @classmethod
    def from_config_object(cls, augment: DrawingAugment, seed=None, **kwargs) -> DrawingStyle:
        return cls(**augment.to_dict(), seed=seed, **kwargs)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        batch = ops.shape(inputs)[0]
        height, width = inputs.shape[1], inputs.shape[2]

        def uniform(low, high, shape=None):
            return random.uniform(shape or (batch, 1, 1), low, high, seed=self.seed_generator)

        # Which images change; the others get the identity at every step below.
        on = ops.cast(uniform(0.0, 1.0) < self.rate, inputs.dtype)

        # 1) Resampling grid: scaling about the centre of mass, plus a smooth displacement.
        images = inputs[..., 0]
        mass = ops.sum(images, axis=(1, 2), keepdims=True) + 1e-6
        grid_rows = ops.arange(height, dtype=inputs.dtype)[None, :, None]
        grid_cols = ops.arange(width, dtype=inputs.dtype)[None, None, :]
        centre_row = ops.sum(images * grid_rows, axis=(1, 2), keepdims=True) / mass
        centre_col = ops.sum(images * grid_cols, axis=(1, 2), keepdims=True) / mass
        size = uniform(*self.scale)
        stretch = uniform(-self.aspect, self.aspect)
        row_scale = 1.0 + on * (size * (1.0 - stretch) - 1.0)
        col_scale = 1.0 + on * (size * (1.0 + stretch) - 1.0)
        points = self.elastic_grid
        control = random.normal((batch, points, points, 2), stddev=self.elastic,
                                seed=self.seed_generator)
        up_rows = ops.convert_to_tensor(interpolation_matrix(height, points), inputs.dtype)
        up_cols = ops.convert_to_tensor(interpolation_matrix(width, points), inputs.dtype)
        field = ops.einsum("ip,bpqc,jq->bijc", up_rows, control, up_cols) * on[..., None]
        rows = centre_row + (grid_rows - centre_row) / row_scale + field[..., 0]
        cols = centre_col + (grid_cols - centre_col) / col_scale + field[..., 1]
        images = bilinear_sample(images, rows, cols)[..., None]

        # 2) Stroke width: blend towards a one-pixel dilation (bolder) or erosion (thinner);
        #    each moves both edges of a stroke, so a full step changes its width by 2 pixels.
        change = uniform(*self.stroke)[..., None] * on[..., None]
        amount = ops.minimum(ops.abs(change) / 2.0, 1.0)
        dilated = ops.max_pool(images, 3, strides=1, padding="same")
        eroded = -ops.max_pool(-images, 3, strides=1, padding="same")
        target = ops.where(change > 0, dilated, eroded)
        images = images + amount * (target - images)

        # 3) Ink: a gain, clipped at full ink, flattens the soft profile of a pen stroke.
        gain = 1.0 + on[..., None] * (uniform(*self.contrast)[..., None] - 1.0)
        return ops.minimum(images * gain, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {"rate": self.rate, "scale": self.scale, "aspect": self.aspect,
                  "elastic": self.elastic, "elastic_grid": self.elastic_grid,
                  "stroke": self.stroke, "contrast": self.contrast, "seed": self.seed}
        return {**base_config, **config}
