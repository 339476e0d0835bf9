"""Model configurations: every architectural number has a name and a reason.

A configuration is saved as JSON beside the weights it trained, so the page and
the command line rebuild exactly the architecture that a weights file holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

IMAGE_SIZE = 28  # MNIST digits are 28x28 grey-level images
NUM_CLASSES = 10
MNIST_TEST_IMAGES = 10_000  # digits in MNIST's test set
PAIR_IMAGE_SIZE = 36  # Section 6: two digits, each shifted by up to 4 pixels, on a 36x36 canvas
PAIR_MAX_SHIFT = 4  # Section 6: "shifted by up to 4 pixels in each direction"
PAIR_PAD = (PAIR_IMAGE_SIZE - IMAGE_SIZE) // 2  # 4 pixels of black around a 28x28 digit
PAIR_DIGITS = 2  # digits in each MultiMNIST example
M_PLUS = 0.9  # Eq. 4: a present class should have a capsule at least this long
M_MINUS = 0.1  # Eq. 4: an absent class should have a capsule at most this long


@dataclass(frozen=True)
class CapsNetConfig:
    """The CapsNet of Sabour, Frosst and Hinton (2017), Section 4 and Figure 1."""

    image_size: int = IMAGE_SIZE  # input side: 28 for MNIST, 36 for MultiMNIST pairs
    conv1_filters: int = 256  # Conv1: 256 channels, 9x9 kernels, stride 1, ReLU
    conv1_kernel: int = 9
    primary_types: int = 32  # PrimaryCaps: 32 channels of 8D capsules...
    primary_dim: int = 8
    primary_kernel: int = 9  # ...from 9x9 kernels with stride 2 (a 6x6 grid)
    primary_strides: int = 2
    digit_dim: int = 16  # DigitCaps: one 16D capsule per class
    routings: int = 3  # Table 1: three routing iterations work best with reconstruction
    decoder_units: tuple[int, ...] = (512, 1024)  # Figure 2: FC 512, FC 1024, then 784 sigmoid
    reconstruction_weight: float = 0.0005 * IMAGE_SIZE * IMAGE_SIZE
    # the paper's 0.0005 on the sum of squared errors, expressed for a mean squared error
    conv_init: str = "he_normal"
    # Conv1 and PrimaryCaps feed ReLUs and squashes: He initialisation gives primary capsules
    # lengths near 0.8 at the start. Keras' default (Glorot) divides by Conv1's fan-out of
    # 81 * 256, which leaves them near 0.007 and every DigitCaps length near 3e-4, where the
    # margin loss sits flat at m+^2 = 0.81.
    transform_init_stddev: float = 0.05
    # W_ij ~ N(0, 0.05^2): with He-initialised convolutions, DigitCaps lengths start around
    # 0.25 (at most about 0.5), off the plateau and far from saturation
    detach_routing: bool = True
    # agreement updates of the routing logits carry no gradient; only the final iteration's
    # coupling-weighted sum does (as in the reference Keras implementation by X. Guo)

    @classmethod
    def for_pairs(cls, **values) -> CapsNetConfig:
        """The CapsNet of Section 6 for 36x36 MultiMNIST pairs: the same layers, a 10x10
        PrimaryCaps grid, and a decoder that draws 1296 pixels with the paper's weight."""
        size = PAIR_IMAGE_SIZE
        return cls(**{"image_size": size, "reconstruction_weight": 0.0005 * size * size,
                      **values})

    @property
    def primary_grid(self) -> int:
        """Side of the PrimaryCaps grid: 28 -> 20 (Conv1) -> 6 (PrimaryCaps); 36 -> 10."""
        conv1 = self.image_size - self.conv1_kernel + 1
        return (conv1 - self.primary_kernel) // self.primary_strides + 1

    @property
    def num_primary(self) -> int:
        """Number of primary capsules: 6 * 6 * 32 = 1152 (10 * 10 * 32 = 3200 for pairs)."""
        return self.primary_grid**2 * self.primary_types

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> CapsNetConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in config.items() if k in known}
        if "decoder_units" in values:
            values["decoder_units"] = tuple(values["decoder_units"])
        return cls(**values)


CNN_OUTPUTS = ("softmax", "sigmoid")


@dataclass(frozen=True)
class CNNConfig:
    """A small modern CNN: three blocks of batch-normalised convolutions with dropout.

    The layout follows the strongest small Kaggle MNIST CNNs: two 3x3 convolutions then a
    strided 5x5 convolution in place of pooling, per block.
    """

    image_size: int = IMAGE_SIZE  # input side: 28 for MNIST, 36 for MultiMNIST pairs
    block_filters: tuple[int, ...] = (32, 64)
    head_filters: int = 128  # a convolution that sees the whole remaining map (4x4 from 28)
    dropout: float = 0.4
    output: str = "softmax"  # "softmax": one digit; "sigmoid": each class on its own, so
    # that two classes can both be present (MultiMNIST, trained with binary cross-entropy)

    def __post_init__(self):
        if self.output not in CNN_OUTPUTS:
            raise ValueError(f"output must be one of {CNN_OUTPUTS}. "
                             f"Received: output={self.output!r}")

    @classmethod
    def for_pairs(cls, **values) -> CNNConfig:
        """The same CNN for 36x36 MultiMNIST pairs, with independent sigmoid outputs."""
        return cls(**{"image_size": PAIR_IMAGE_SIZE, "output": "sigmoid", **values})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> CNNConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in config.items() if k in known}
        if "block_filters" in values:
            values["block_filters"] = tuple(values["block_filters"])
        return cls(**values)


@dataclass(frozen=True)
class DrawingAugment:
    """Augmentation that makes MNIST digits look like drawings on the page's canvas
    (`capsnet.augment.DrawingStyle`); no rotations and no shifts, which the page's sweeps test.
    """

    rate: float = 0.5  # half of each batch changed, half left as MNIST drew it
    scale: tuple[float, float] = (0.85, 1.1)  # size about the centre of mass
    aspect: float = 0.1  # width against height, up to 10% either way
    elastic: float = 1.0  # pixels of smooth displacement (std at each control point)...
    elastic_grid: int = 5  # ...on a 5x5 grid of control points, 6.75 pixels apart
    stroke: tuple[float, float] = (-0.8, 2.0)  # stroke width change in pixels: MNIST's median
    # of 2.9 becomes 2.1 to 4.9, the range of widths the page's preprocessing hands over
    contrast: tuple[float, float] = (1.0, 1.6)  # gain on ink, clipped: flat, saturated strokes

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRECISIONS = ("float32", "mixed_bfloat16")  # Keras dtype policies for training
AUGMENTATIONS = ("drawing", "shift")  # the recipe for drawings, and the paper's shifts alone


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by both models (the paper's code uses Adam and decay)."""

    epochs: int = 50
    batch_size: int = 100
    learning_rate: float = 1e-3
    lr_decay: float = 0.9  # multiply the learning rate by this once per epoch
    lr_decay_every: int | None = None  # examples between two decays; None: one pass over
    # the training images (the paper's code: 0.96 every 2,000 steps of 128, 256,000 examples)
    max_shift: int = 2  # Section 5: "shifted by up to 2 pixels in each direction"
    augment: str = "drawing"  # "drawing": DrawingAugment, then the shifts; "shift": shifts only
    drawing: DrawingAugment = dataclasses.field(default_factory=DrawingAugment)
    validation_size: int = 5000  # carved from the training set; the test set chooses nothing
    seed: int = 1
    epoch_size: int | None = None  # examples per epoch (one log line, one validation); None:
    # one pass over the training images. An epoch that reaches the end of a pass ends there
    # (Keras begins the next pass with the next epoch). The learning rate decays once per
    # pass either way.
    precision: str = "float32"  # or "mixed_bfloat16": bfloat16 compute, float32 weights
    ema: float | None = None  # momentum of a moving average of the weights (Polyak
    # averaging), which each epoch's validation measures and the best epoch saves; None: the
    # weights as trained
    freeze: tuple[str, ...] = ()  # layers whose weights stay as they are (e.g. the CapsNet's
    # "conv1" and "primary_caps": a CPU step then skips their gradients, about twice as fast)

    def __post_init__(self):
        object.__setattr__(self, "freeze", tuple(self.freeze))
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {AUGMENTATIONS}. "
                             f"Received: augment={self.augment!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}. "
                             f"Received: precision={self.precision!r}")
        if self.lr_decay_every is not None and self.lr_decay_every < self.batch_size:
            raise ValueError("lr_decay_every must be at least one batch. "
                             f"Received: lr_decay_every={self.lr_decay_every}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ValueError(f"ema must be between 0 and 1. Received: ema={self.ema}")
        if self.epoch_size is not None and self.epoch_size < self.batch_size:
            raise ValueError("epoch_size must be at least one batch. "
                             f"Received: epoch_size={self.epoch_size}")

    def to_dict(self) -> dict:
        """The settings as JSON-able values; the drawing augmentation only where it is used."""
        values = dataclasses.asdict(self)
        if self.augment != "drawing":
            values["drawing"] = None
        return values
