"""Losses of the CapsNet paper, written with `keras.ops`."""

from __future__ import annotations

from keras import ops

from capsnet.config import M_MINUS, M_PLUS  # Eq. 4's margins, also read without Keras

LAMBDA = 0.5  # Eq. 4: down-weights absent classes so that early learning does not
# shrink every capsule's length


def margin_loss(y_true, lengths):
    """Margin loss (Eq. 4), summed over classes and averaged over the batch.

    `L_k = T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2`

    Args:
        y_true: one-hot labels, `(batch, num_classes)`; two-hot for MultiMNIST pairs, where
            both present classes count as present.
        lengths: capsule lengths, `(batch, num_classes)`.

    Returns:
        The scalar mean loss.
    """
    y_true = ops.cast(y_true, lengths.dtype)
    present = y_true * ops.square(ops.relu(M_PLUS - lengths))
    absent = LAMBDA * (1.0 - y_true) * ops.square(ops.relu(lengths - M_MINUS))
    return ops.mean(ops.sum(present + absent, axis=-1))


def reconstruction_loss(images, reconstructions):
    """Mean squared error between images and reconstructions, per example.

    The paper weights the sum of squared errors by 0.0005; with the mean over 784 pixels
    the same weight is 0.0005 * 784 (`CapsNetConfig.reconstruction_weight`).

    Args:
        images: targets `(batch, height, width, 1)`, or `(batch, digits, height, width, 1)`
            for MultiMNIST, where each digit is reconstructed on its own from its own capsule
            (Section 6): the loss is then the sum over the digits of each one's error.
        reconstructions: decoder outputs of the same shape.

    Returns:
        `(batch,)` losses.
    """
    errors = ops.square(images - reconstructions)
    if len(images.shape) == 5:  # (batch, digits, height, width, 1)
        return ops.sum(ops.mean(errors, axis=(2, 3, 4)), axis=-1)
    return ops.mean(ops.reshape(errors, (ops.shape(errors)[0], -1)), axis=-1)
