"""Capsule layers (Sabour, Frosst and Hinton 2017), written against Keras 3 only.

Every layer uses `keras.ops` alone, so it runs on TensorFlow, JAX and PyTorch, and is
registered for serialization with a complete `get_config`.
"""

from __future__ import annotations

import keras
from keras import ops

from capsnet.config import PAIR_DIGITS, PAIR_IMAGE_SIZE, PAIR_MAX_SHIFT, PAIR_PAD

EPSILON = 1e-7  # keeps the norm's gradient finite at the zero vector


def squash(vectors, axis: int = -1):
    """The squash non-linearity (Eq. 1): `v = |s|^2 / (1 + |s|^2) * s / |s|`.

    Short vectors shrink to almost zero length and long ones to a length just below 1,
    keeping their direction.
    """
    squared_norm = ops.sum(ops.square(vectors), axis=axis, keepdims=True)
    scale = squared_norm / (1.0 + squared_norm) / ops.sqrt(squared_norm + EPSILON)
    return scale * vectors


@keras.saving.register_keras_serializable(package="capsnet")
class PrimaryCapsules(keras.layers.Layer):
    """Convolutional capsules: a convolution whose channels are grouped into vectors.

    Args:
        num_types: number of capsule types (channels of capsules) on the grid.
        dim: dimension of each capsule vector.
        kernel_size: side of the square convolution kernel.
        strides: stride of the convolution.
        kernel_initializer: initializer of the convolution kernel.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, grid_height * grid_width * num_types, dim)`, squashed.
    """

    def __init__(self, num_types: int, dim: int, kernel_size: int, strides: int = 1,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_types", num_types), ("dim", dim),
                            ("kernel_size", kernel_size), ("strides", strides)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value}")
        self.num_types = num_types
        self.dim = dim
        self.kernel_size = kernel_size
        self.strides = strides
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.conv = keras.layers.Conv2D(
            filters=num_types * dim, kernel_size=kernel_size, strides=strides,
            padding="valid", kernel_initializer=self.kernel_initializer, name="conv",
        )

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, inputs):
        features = self.conv(inputs)  # (batch, 6, 6, 32 * 8)
        # Channels are laid out type-major (32 groups of 8), so reshaping keeps each
        # capsule's 8 numbers together: capsule index = (row * 6 + col) * 32 + type.
        capsules = ops.reshape(features, (-1, self._num_capsules(inputs.shape), self.dim))
        return squash(capsules)  # (batch, 1152, 8)

    def _num_capsules(self, input_shape) -> int:
        height, width = self.conv.compute_output_shape(input_shape)[1:3]
        return height * width * self.num_types

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._num_capsules(input_shape), self.dim)

    def get_config(self):
        base_config = super().get_config()
        config = {
            "num_types": self.num_types,
            "dim": self.dim,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="capsnet")
class DigitCapsules(keras.layers.Layer):
    """Fully connected capsules with dynamic routing by agreement (Procedure 1).

    Each input capsule `u_i` predicts every output capsule through its own transformation
    matrix, `u_hat_j|i = W_ij u_i` (Eq. 2). Coupling coefficients `c_ij = softmax_j(b_ij)`
    (Eq. 3) weight the predictions into `s_j`, squashed into `v_j`, and the logits grow
    with the agreement `u_hat_j|i . v_j`.

    Args:
        num_capsules: number of output capsules (one per class).
        dim: dimension of each output capsule.
        routings: number of routing iterations (3 in the paper).
        return_couplings: also return the coupling coefficients of every iteration.
        detach_routing: stop gradients through the agreement updates of the logits, so
            that only the last iteration's weighted sum carries gradient to `W`.
        kernel_initializer: initializer of the transformation matrices `W`.

    Call arguments:
        inputs: the input capsules.
        routings: routing iterations for this call, in place of the layer's own (the same
            weights read with more or fewer iterations; 1 is uniform couplings, no routing).

    Input shape:
        `(batch, num_inputs, input_dim)`.

    Output shape:
        `(batch, num_capsules, dim)`; with `return_couplings`, also
        `(batch, routings, num_inputs, num_capsules)`.
    """

    def __init__(
        self,
        num_capsules: int,
        dim: int,
        routings: int = 3,
        return_couplings: bool = False,
        detach_routing: bool = True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("num_capsules", num_capsules), ("dim", dim), ("routings", routings)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value}")
        self.num_capsules = num_capsules
        self.dim = dim
        self.routings = routings
        self.return_couplings = return_couplings
        self.detach_routing = detach_routing
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        num_inputs, input_dim = input_shape[1], input_shape[2]
        # W: (num_inputs, num_capsules, dim, input_dim), one matrix per (i, j) pair
        self.kernel = self.add_weight(
            name="kernel",
            shape=(num_inputs, self.num_capsules, self.dim, input_dim),
            initializer=self.kernel_initializer,
        )

    def call(self, inputs, routings: int | None = None):
        routings = self._routings(routings)
        # 1) Predictions of every output capsule by every input capsule (Eq. 2).
        # inputs: (batch, 1152, 8); u_hat: (batch, 1152, 10, 16)
        u_hat = ops.einsum("bid,ijkd->bijk", inputs, self.kernel)
        u_hat_routing = ops.stop_gradient(u_hat) if self.detach_routing else u_hat

        # 2) Routing by agreement (Procedure 1), from zero logits b: (batch, 1152, 10).
        # softmax of zero logits is uniform; writing it out spares XLA constant-folding it.
        uniform = ops.ones_like(u_hat[..., 0]) / self.num_capsules
        logits = None
        couplings = []
        for iteration in range(routings):
            # Eq. 3: c_ij = softmax over the output capsules j of b_ij
            coupling = uniform if logits is None else ops.softmax(logits, axis=-1)
            couplings.append(coupling)
            last = iteration == routings - 1
            predictions = u_hat if last else u_hat_routing
            # s: (batch, 10, 16), v: (batch, 10, 16)
            outputs = squash(ops.einsum("bij,bijk->bjk", coupling, predictions))
            if not last:
                # b_ij += u_hat_j|i . v_j
                agreement = ops.einsum("bijk,bjk->bij", u_hat_routing, outputs)
                logits = agreement if logits is None else logits + agreement

        if self.return_couplings:
            return outputs, ops.stack(couplings, axis=1)  # (batch, routings, 1152, 10)
        return outputs

    def _routings(self, routings: int | None) -> int:
        if routings is None:
            return self.routings
        if not isinstance(routings, int) or routings < 1:
            raise ValueError(f"routings must be a positive integer. Received: routings={routings}")
        return routings

    def compute_output_shape(self, input_shape, routings: int | None = None):
        output_shape = (input_shape[0], self.num_capsules, self.dim)
        if self.return_couplings:
            routings = self._routings(routings)
            return output_shape, (input_shape[0], routings, input_shape[1], self.num_capsules)
        return output_shape

    def compute_output_spec(self, inputs, routings: int | None = None):
        shapes = self.compute_output_shape(inputs.shape, routings)
        if not self.return_couplings:
            return keras.KerasTensor(shapes, dtype=self.compute_dtype)
        return tuple(keras.KerasTensor(shape, dtype=self.compute_dtype) for shape in shapes)

    def get_config(self):
        base_config = super().get_config()
        config = {
            "num_capsules": self.num_capsules,
            "dim": self.dim,
            "routings": self.routings,
            "return_couplings": self.return_couplings,
            "detach_routing": self.detach_routing,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="capsnet")
class CapsuleLength(keras.layers.Layer):
    """Length of each capsule vector: the probability that its entity is present.

    Input shape:
        `(batch, num_capsules, dim)`.

    Output shape:
        `(batch, num_capsules)`.
    """

    def call(self, inputs):
        return ops.sqrt(ops.sum(ops.square(inputs), axis=-1) + EPSILON)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1]


@keras.saving.register_keras_serializable(package="capsnet")
class Mask(keras.layers.Layer):
    """Keeps one capsule per example and zeroes the others, then flattens (Section 4.1).

    In training the true class is kept; in inference the longest capsule, or a class the
    caller names, is kept.

    Call arguments:
        inputs: capsules `(batch, num_capsules, dim)`, or a list of the capsules and a
            one-hot `(batch, num_capsules)` naming the capsule to keep (the true class in
            training, or a class the caller chooses). Without the one-hot, the longest
            capsule is kept.

    Output shape:
        `(batch, num_capsules * dim)`.
    """

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            capsules, keep = inputs
        else:
            capsules = inputs
            lengths = ops.sum(ops.square(capsules), axis=-1)  # (batch, 10)
            keep = ops.one_hot(ops.argmax(lengths, axis=-1), capsules.shape[1])
        keep = ops.cast(keep, capsules.dtype)
        masked = capsules * ops.expand_dims(keep, -1)  # (batch, 10, 16)
        return ops.reshape(masked, (-1, capsules.shape[1] * capsules.shape[2]))

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        return (input_shape[0], input_shape[1] * input_shape[2])


def shift_images(images, shifts):
    """Shifts each image by whole pixels, filling with zeros, as two batched matrix products
    with one-hot shift matrices, `out = R @ x @ C` (compiles under XLA, unlike a gather with
    dynamic slices).

    Args:
        images: `(batch, height, width, channels)`.
        shifts: integers `(batch, 2)`: rows down and columns right, per image.
    """
    height, width = images.shape[1], images.shape[2]
    # rows[b, i, k] = 1 where k == i - dy: output row i reads input row i - dy;
    # out-of-range indices one-hot to all zeros, which fills the border with black.
    rows = ops.one_hot(ops.arange(height)[None, :] - shifts[:, :1], height)
    cols = ops.one_hot(ops.arange(width)[None, :] - shifts[:, 1:], width)
    channels_first = ops.transpose(images, (0, 3, 1, 2))  # (batch, channels, 28, 28)
    rows = ops.cast(rows, images.dtype)[:, None]  # (batch, 1, 28, 28)
    cols = ops.cast(cols, images.dtype)[:, None]
    shifted = ops.matmul(ops.matmul(rows, channels_first), ops.swapaxes(cols, -1, -2))
    return ops.transpose(shifted, (0, 2, 3, 1))


@keras.saving.register_keras_serializable(package="capsnet")
class RandomShift(keras.layers.Layer):
    """Shifts each image by a random whole number of pixels, filling with zeros.

    The shift is two batched matrix products with one-hot shift matrices,
    `out = R @ x @ C`, so it compiles under XLA (unlike `RandomTranslation`) and runs
    on the accelerator. Active only in training.

    Args:
        max_shift: largest shift in pixels, in each direction and axis.
        seed: seed of the random shifts.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as input.
    """

    def __init__(self, max_shift: int = 2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(
                f"max_shift must be a non-negative integer. Received: max_shift={max_shift}"
            )
        self.max_shift = max_shift
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.max_shift == 0:
            return inputs
        batch = ops.shape(inputs)[0]
        # shifts: (batch, 2) integers in [-max_shift, max_shift]
        shifts = keras.random.randint(
            (batch, 2), -self.max_shift, self.max_shift + 1, seed=self.seed_generator
        )
        return shift_images(inputs, shifts)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {"max_shift": self.max_shift, "seed": self.seed}
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="capsnet")
class OverlayPairs(keras.layers.Layer):
    """Makes MultiMNIST pairs from a batch of 28x28 digits, inside the train step.

    Each digit gets a partner of another class drawn uniformly from the same batch; both are
    padded to 36x36, shifted by up to `max_shift` pixels (`shift_images`) and overlaid. A batch
    reshuffled each epoch and fresh draws give new pairs every epoch.

    Args:
        max_shift: largest shift in pixels, each direction and axis (4 in the paper).
        seed: seed of the partners and the shifts.

    Input shape:
        `[(batch, 28, 28, 1) digits, (batch, 10) one-hot labels]`.

    Output shape:
        `(overlays (batch, 36, 36, 1), digits (batch, 2, 36, 36, 1), one-hot labels of each
        digit (batch, 2, 10))`. A batch of one class only (never met in practice) pairs
        digits of that class.
    """

    def __init__(self, max_shift: int = PAIR_MAX_SHIFT, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_shift, int) or not 0 <= max_shift <= PAIR_PAD:
            raise ValueError(f"max_shift must be an integer in [0, {PAIR_PAD}]. "
                             f"Received: max_shift={max_shift}")
        self.max_shift = max_shift
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        images, one_hot = inputs
        batch = ops.shape(images)[0]
        one_hot = ops.cast(one_hot, images.dtype)
        # 1) Partners: the highest of random scores among the digits of other classes.
        same = ops.matmul(one_hot, ops.transpose(one_hot))  # (batch, batch), 1 = same class
        scores = keras.random.uniform((batch, batch), seed=self.seed_generator)
        partner = ops.argmax(ops.where(same > 0, -1.0, scores), axis=-1)  # (batch,)
        second_images = ops.take(images, partner, axis=0)
        second_one_hot = ops.take(one_hot, partner, axis=0)

        # 2) Pad to the canvas and shift each digit on its own.
        def place(digits):
            pad = (PAIR_PAD, PAIR_PAD)
            padded = ops.pad(digits, ((0, 0), pad, pad, (0, 0)))
            shifts = keras.random.randint((batch, 2), -self.max_shift, self.max_shift + 1,
                                          seed=self.seed_generator)
            return shift_images(padded, shifts)  # (batch, 36, 36, 1)

        first, second = place(images), place(second_images)
        # 3) Overlay; keep both digits as reconstruction targets.
        digits = ops.stack([first, second], axis=1)  # (batch, 2, 36, 36, 1)
        labels = ops.stack([one_hot, second_one_hot], axis=1)  # (batch, 2, 10)
        return ops.minimum(first + second, 1.0), digits, labels  # the sum, clipped at full ink

    def compute_output_shape(self, input_shape):
        images_shape, labels_shape = input_shape
        batch, classes = images_shape[0], labels_shape[-1]
        canvas = (PAIR_IMAGE_SIZE, PAIR_IMAGE_SIZE, images_shape[-1])
        return (batch, *canvas), (batch, PAIR_DIGITS, *canvas), (batch, PAIR_DIGITS, classes)

    def get_config(self):
        base_config = super().get_config()
        config = {"max_shift": self.max_shift, "seed": self.seed}
        return {**base_config, **config}
