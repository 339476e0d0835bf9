"""Model factories: the paper's CapsNet and a CNN baseline, built from config objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras
from keras import layers

from capsnet.augment import DrawingStyle
from capsnet.config import (
    IMAGE_SIZE,
    NUM_CLASSES,
    PAIR_DIGITS,
    CapsNetConfig,
    CNNConfig,
    DrawingAugment,
)
from capsnet.layers import (
    CapsuleLength,
    DigitCapsules,
    Mask,
    OverlayPairs,
    PrimaryCapsules,
    RandomShift,
)
from capsnet.losses import margin_loss, reconstruction_loss

IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


def image_shape(size: int) -> tuple[int, int, int]:
    """A model's input shape: `(size, size, 1)` grey levels."""
    return (size, size, 1)


def trains_on_pairs(config: CapsNetConfig | CNNConfig) -> bool:
    """A model for a larger canvas than MNIST's reads MultiMNIST pairs: its trainer makes
    them from 28x28 digits (`OverlayPairs`)."""
    return config.image_size != IMAGE_SIZE


class CapsNetTrainer(keras.Model):
    """The CapsNet in training: margin loss plus the weighted reconstruction loss.

    Its outputs are `(lengths, reconstruction, target)`, where `target` is the image as the
    network saw it after augmentation, so the decoder learns to redraw the shifted digit.
    A trainer that makes its own examples (MultiMNIST pairs) adds their two-hot labels,
    `(lengths, reconstructions, targets, labels)`, with a digit axis on the reconstructions
    and targets; the labels then stand in for `y`.
    """

    def __init__(self, *args, reconstruction_weight: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.reconstruction_weight = reconstruction_weight
        self.margin_tracker = keras.metrics.Mean(name="margin_loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        lengths, reconstruction, target, *labels = y_pred
        margin = margin_loss(labels[0] if labels else y, lengths)
        reconstruction = keras.ops.mean(reconstruction_loss(target, reconstruction))
        self.margin_tracker.update_state(margin)
        self.reconstruction_tracker.update_state(reconstruction)
        return margin + self.reconstruction_weight * reconstruction

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels = y_pred[3] if len(y_pred) > 3 else y
        return super().compute_metrics(x, labels, y_pred[0], sample_weight)


class PairCNNTrainer(keras.Model):
    """The CNN in training on MultiMNIST pairs made inside the step: outputs
    `(scores, labels)`, sigmoid scores and the pairs' two-hot labels, which stand in for `y`;
    binary cross-entropy per class."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        scores, labels = y_pred
        return keras.ops.mean(keras.losses.binary_crossentropy(labels, scores))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y_pred[1], y_pred[0], sample_weight)


@dataclass
class CapsNet:
    """The three views of one CapsNet; they share every layer and weight.

    Attributes:
        model: image -> `{"lengths", "capsules", "reconstruction", "couplings"}`, the
            reconstruction drawn from the longest capsule. Its weights are the shipped file.
        reconstructor: `[capsules, one-hot class]` -> image: the decoder behind a mask,
            for reconstructing any class or a capsule whose pose was changed.
        trainer: `[image, one-hot label]` -> `(lengths, reconstruction, target)`, with
            the training augmentation and the true class masked, for `fit`. For a 36x36
            CapsNet, `[28x28 digit, one-hot label]` -> `(lengths, reconstructions, targets,
            two-hot labels)` on MultiMNIST pairs made in the step, each digit reconstructed
            from its own capsule with the other masked out (Section 6).
    """

    config: CapsNetConfig
    model: keras.Model
    reconstructor: keras.Model
    trainer: CapsNetTrainer
    _routed: Callable[[int], keras.Model] = field(repr=False, default=None)

    def routed(self, routings: int | None = None) -> keras.Model:
        """`model` read with another number of routing iterations: the same layers and
        weights (no copy), built once per count. 1 iteration is uniform couplings."""
        if routings is None or routings == self.config.routings:
            return self.model
        return self._routed(routings)


def drawing_style(images, drawing: DrawingAugment | None, seed: int | None, training=None):
    """The drawing style on 28x28 training digits, where `drawing` asks for it."""
    if drawing is None:
        return images
    return DrawingStyle.from_config_object(drawing, seed=seed, name="drawing_style")(
        images, training=training)


def augmentation(images, max_shift: int, drawing: DrawingAugment | None, seed: int | None):
    """The training augmentation in front of either model: the drawing style, if any, then
    the paper's random shifts."""
    return RandomShift(max_shift, seed=seed, name="random_shift")(
        drawing_style(images, drawing, seed))


def pairs_of(images, labels, max_shift: int, drawing: DrawingAugment | None,
             seed: int | None, training=None):
    """MultiMNIST training pairs made in the train step: each digit in the drawing style, if
    any (before pairing, so each digit of a pair gets its own), then overlaid with a partner
    of another class, both shifted (`OverlayPairs`)."""
    return OverlayPairs(max_shift, seed, name="pairs")(
        [drawing_style(images, drawing, seed, training), labels])


def build_capsnet(config: CapsNetConfig | None = None, max_shift: int = 2,
                  seed: int | None = None, drawing: DrawingAugment | None = None) -> CapsNet:
    """Builds the CapsNet of Sabour et al. (2017), Figure 1 and Figure 2.

    Args:
        max_shift, drawing: the training augmentation (see `augmentation`); inference
            never augments. For a MultiMNIST CapsNet (`CapsNetConfig.for_pairs()`),
            `max_shift` is each digit's shift in the pairs and `drawing` styles each digit
            before it is paired (`pairs_of`).
    """
    config = config or CapsNetConfig()
    shape = image_shape(config.image_size)

    # 1) Encoder layers: Conv1 -> PrimaryCaps -> DigitCaps.
    conv1 = layers.Conv2D(config.conv1_filters, config.conv1_kernel, activation="relu",
                          kernel_initializer=keras.initializers.get(
                              {"class_name": config.conv_init, "config": {"seed": seed}}),
                          name="conv1")
    primary = PrimaryCapsules(config.primary_types, config.primary_dim,
                              config.primary_kernel, config.primary_strides,
                              kernel_initializer=keras.initializers.get(
                                  {"class_name": config.conv_init, "config": {"seed": seed}}),
                              name="primary_caps")
    digit = DigitCapsules(
        NUM_CLASSES, config.digit_dim, routings=config.routings, return_couplings=True,
        detach_routing=config.detach_routing,
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=config.transform_init_stddev, seed=seed),
        name="digit_caps",
    )
    length = CapsuleLength(name="lengths")
    mask = Mask(name="mask")

    # 2) Decoder (Figure 2): a masked 160-vector -> FC 512 -> FC 1024 -> FC 784 sigmoid
    #    (1296 for a 36x36 canvas).
    decoder = keras.Sequential(
        [keras.Input((NUM_CLASSES * config.digit_dim,))]
        + [layers.Dense(units, activation="relu") for units in config.decoder_units]
        + [layers.Dense(config.image_size ** 2, activation="sigmoid"),
           layers.Reshape(shape)],
        name="decoder",
    )

    def encode(images):
        capsules, couplings = digit(primary(conv1(images)))  # (batch, 10, 16)
        return capsules, couplings

    # 3) Inference: reconstruct from the longest capsule; any routing count shares the layers.
    routed_models: dict[int, keras.Model] = {}

    def routed(routings: int) -> keras.Model:
        if routings not in routed_models:
            images = keras.Input(shape, name="image")
            capsules, couplings = digit(primary(conv1(images)), routings=routings)
            routed_models[routings] = keras.Model(
                images,
                {
                    "lengths": length(capsules),
                    "capsules": capsules,
                    "reconstruction": decoder(mask(capsules)),
                    "couplings": couplings,
                },
                name="capsnet" if routings == config.routings else f"capsnet_{routings}_routings",
            )
        return routed_models[routings]

    model = routed(config.routings)

    # 4) Reconstruction from any capsules and any chosen class.
    capsule_input = keras.Input((NUM_CLASSES, config.digit_dim), name="capsules")
    class_input = keras.Input((NUM_CLASSES,), name="class_one_hot")
    reconstructor = keras.Model(
        [capsule_input, class_input], decoder(mask([capsule_input, class_input])),
        name="capsnet_reconstructor",
    )

    # 5) Training: augment, then reconstruct the true class from the augmented image.
    train_images = keras.Input(IMAGE_SHAPE, name="image")
    labels = keras.Input((NUM_CLASSES,), name="label_one_hot")
    if trains_on_pairs(config):
        # MultiMNIST: pair the digits, then reconstruct each from its own capsule alone.
        # (batch, 36, 36, 1), (batch, 2, 36, 36, 1), (batch, 2, 10)
        overlays, targets, pair_labels = pairs_of(train_images, labels, max_shift, drawing, seed)
        train_capsules, _ = encode(overlays)
        reconstructions = keras.ops.stack(  # (batch, 2, 36, 36, 1)
            [decoder(mask([train_capsules, pair_labels[:, k]])) for k in range(PAIR_DIGITS)],
            axis=1)
        outputs = [length(train_capsules), reconstructions, targets,
                   keras.ops.sum(pair_labels, axis=1)]  # two-hot: (batch, 10)
    else:
        shifted = augmentation(train_images, max_shift, drawing, seed)
        train_capsules, _ = encode(shifted)
        outputs = [length(train_capsules), decoder(mask([train_capsules, labels])), shifted]
    trainer = CapsNetTrainer([train_images, labels], outputs,
                             reconstruction_weight=config.reconstruction_weight,
                             name="capsnet_trainer")
    return CapsNet(config, model, reconstructor, trainer, routed)


@dataclass
class CNN:
    """The CNN baseline and its training view (the training augmentation in front of it)."""

    config: CNNConfig
    model: keras.Model
    trainer: keras.Model


def build_cnn(config: CNNConfig | None = None, max_shift: int = 2,
              seed: int | None = None, drawing: DrawingAugment | None = None) -> CNN:
    """Builds the CNN baseline: per block, two 3x3 convolutions and a strided 5x5 one,
    each batch-normalised, then dropout; a convolution head over the whole remaining map
    (4x4 from 28x28, 6x6 from 36x36) and a softmax, or independent sigmoids for MultiMNIST
    (`CNNConfig.for_pairs()`), whose trainer takes `[28x28 digit, one-hot label]` and
    makes the pairs (`max_shift` is then each digit's shift; `drawing` styles each digit
    before it is paired, `pairs_of`)."""
    config = config or CNNConfig()

    def conv(filters, kernel, strides=1, padding="valid"):
        return [layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False),
                layers.BatchNormalization(), layers.Activation("relu")]

    stack = [keras.Input(image_shape(config.image_size), name="image")]
    side = config.image_size
    for filters in config.block_filters:
        # 28 -> 26 -> 24 -> 12, then 12 -> 10 -> 8 -> 4 (36 -> 16 -> 6)
        stack += conv(filters, 3) + conv(filters, 3) + conv(filters, 5, 2, "same")
        stack += [layers.Dropout(config.dropout, seed=seed)]
        side = -(-(side - 4) // 2)
    stack += conv(config.head_filters, side)  # 4x4 (6x6) -> 1x1
    stack += [layers.Flatten(), layers.Dropout(config.dropout, seed=seed),
              layers.Dense(NUM_CLASSES, activation=config.output, name="probabilities")]
    model = keras.Sequential(stack, name="cnn")

    train_images = keras.Input(IMAGE_SHAPE, name="image")
    if trains_on_pairs(config):
        labels = keras.Input((NUM_CLASSES,), name="label_one_hot")
        overlays, _, pair_labels = pairs_of(train_images, labels, max_shift, drawing, seed)
        trainer = PairCNNTrainer([train_images, labels],
                                 [model(overlays), keras.ops.sum(pair_labels, axis=1)],
                                 name="cnn_trainer")
    else:
        shifted = augmentation(train_images, max_shift, drawing, seed)
        trainer = keras.Model(train_images, model(shifted), name="cnn_trainer")
    return CNN(config, model, trainer)
