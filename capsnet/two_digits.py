"""The two-digit models (MultiMNIST, Section 6) behind one thread-safe object, for the page.

The CapsNet names the two classes whose capsules are longest and redraws each digit from its
own capsule with every other capsule masked out, which separates two overlapping digits; the
CNN names its two highest sigmoid scores. Numpy in, numpy out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from capsnet import checkpoints
from capsnet.config import MNIST_TEST_IMAGES, PAIR_IMAGE_SIZE
from capsnet.inference import CapsuleLab, image_batch
from capsnet.multimnist import answers
from capsnet.preprocess import preprocess_pair

ONE_DIGIT_LENGTH, ONE_DIGIT_INK = 0.3, 0.14
# The CapsNet sees one digit where its second capsule is shorter than ONE_DIGIT_LENGTH, or
# where the second digit, redrawn from its own capsule, covers less than ONE_DIGIT_INK of the
# input's ink beyond what the first digit's redrawing covers (`second_ink`): the first digit
# explains the drawing away. The length alone is a weak sign: the two-digit models trained on
# pairs only, and on a lone drawn digit their second capsule is often longer than 0.5, the
# margin loss's boundary. Both chosen with `scripts/one_digit_threshold.py`: the most single
# digits called one digit with at least 97% of the MNIST test pairs and of the drawn pairs
# still read as two.
CNN_ONE_DIGIT_THRESHOLD = 0.25
# The CNN sees one digit where its second sigmoid score is below this. A sigmoid score is the
# chance that its class is present, but 0.5 told a visitor that 10% of the drawn pairs hold one
# digit; 0.25 is the same choice as the CapsNet's, made with the same script.
PAPER_ERRORS = {"capsnet": 0.052, "cnn": 0.081}  # Table 1: MultiMNIST test error


@dataclass
class TwoDigitAnalysis:
    """Both models' reading of one 36x36 image of two overlapping digits.

    Attributes:
        image: the model input, float32 `(36, 36)` in [0, 1].
        capsnet_lengths: DigitCaps lengths `(10,)`, each in [0, 1).
        capsules: DigitCaps vectors `(10, 16)`.
        capsnet_answers: the two classes with the longest capsules, longest first, `(2,)`.
        reconstructions: `(2, 36, 36)`, each answer's digit redrawn from its own capsule
            with the other capsules masked out, in the order of `capsnet_answers`.
        cnn_scores: the CNN's independent sigmoid scores `(10,)`.
        cnn_answers: the CNN's two highest-scoring classes, highest first, `(2,)`.
    """

    image: np.ndarray
    capsnet_lengths: np.ndarray
    capsules: np.ndarray
    capsnet_answers: np.ndarray
    reconstructions: np.ndarray
    cnn_scores: np.ndarray
    cnn_answers: np.ndarray

    @property
    def second_ink(self) -> float:
        """The share of the input's ink that only the second digit accounts for (see
        `second_ink`)."""
        return float(second_ink(self.image, *self.reconstructions))

    @property
    def second_length(self) -> float:
        """The length of the second answer's capsule."""
        return float(self.capsnet_lengths[self.capsnet_answers[1]])

    @property
    def one_digit(self) -> bool:
        """The CapsNet sees one digit only: its second capsule is shorter than
        `ONE_DIGIT_LENGTH`, or its redrawing covers less than `ONE_DIGIT_INK` of the ink
        beyond what the first answer's covers."""
        return self.second_length < ONE_DIGIT_LENGTH or self.second_ink < ONE_DIGIT_INK

    @property
    def cnn_one_digit(self) -> bool:
        """The CNN sees one digit only: its second score is below `CNN_ONE_DIGIT_THRESHOLD`."""
        return bool(self.cnn_scores[self.cnn_answers[1]] < CNN_ONE_DIGIT_THRESHOLD)

    @property
    def agree(self) -> bool:
        """Both models name the same two classes (in either order)."""
        return set(self.capsnet_answers.tolist()) == set(self.cnn_answers.tolist())


def second_ink(image: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The share of an input's ink that the second digit's redrawing covers and the first
    digit's does not: `sum(min(second, max(image - first, 0))) / sum(image)`.

    Args:
        image: the model input, `(..., 36, 36)` in [0, 1].
        first, second: the two answers' reconstructions, each redrawn from its own capsule,
            shaped like `image`.

    Returns:
        `(...)`: 0 where the first digit's redrawing covers all the ink the second's does,
        up to 1 where the second digit alone accounts for every pixel of ink.
    """
    image = np.asarray(image, "float32")
    unexplained = np.maximum(image - np.asarray(first, "float32"), 0.0)
    covered = np.minimum(np.asarray(second, "float32"), unexplained).sum(axis=(-2, -1))
    return covered / np.maximum(image.sum(axis=(-2, -1)), 1e-6)


class TwoDigitLab(CapsuleLab):
    """The two-digit CNN and CapsNet, loaded once and shared (see `CapsuleLab`, whose
    `reconstruct(capsules, digit, pose=None)` redraws any class from its capsule: "is there a
    3 in here?")."""

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None) -> TwoDigitLab:
        """Loads `multimnist_cnn` and `multimnist_capsnet` from the shipped weights (or
        `folder`); raises `WeightsError`, saying how to train them, where they are missing."""
        cnn, cnn_metrics = checkpoints.load("multimnist_cnn", folder)
        capsnet, capsnet_metrics = checkpoints.load("multimnist_capsnet", folder)
        return cls(cnn, capsnet, {"multimnist_cnn": cnn_metrics,
                                  "multimnist_capsnet": capsnet_metrics})

    def analyze_batch(self, images: np.ndarray) -> list[TwoDigitAnalysis]:
        """Both models on a stack of 36x36 images, `(n, 36, 36)` or `(n, 36, 36, 1)`."""
        batch = image_batch(images, PAIR_IMAGE_SIZE)
        with self._lock:
            scores = np.asarray(self.cnn.model.predict_on_batch(batch))
            outputs = self.capsnet.model.predict_on_batch(batch)
        lengths, capsules = np.asarray(outputs["lengths"]), np.asarray(outputs["capsules"])
        capsnet_answers, cnn_answers = answers(lengths), answers(scores)
        # each answer's reconstruction: (n * 2, 36, 36) in one batch, then (n, 2, 36, 36)
        drawn = self.reconstruct_batch(np.repeat(capsules, 2, axis=0),
                                       capsnet_answers.reshape(-1))
        drawn = drawn.reshape(len(batch), 2, *drawn.shape[1:])
        return [
            TwoDigitAnalysis(image=batch[i, ..., 0], capsnet_lengths=lengths[i],
                             capsules=capsules[i], capsnet_answers=capsnet_answers[i],
                             reconstructions=drawn[i], cnn_scores=scores[i],
                             cnn_answers=cnn_answers[i])
            for i in range(len(batch))
        ]

    def analyze(self, image: np.ndarray) -> TwoDigitAnalysis:
        """Both models on one 36x36 image."""
        return self.analyze_batch(image)[0]

    def analyze_drawing(self, drawing, ink: str = "auto") -> TwoDigitAnalysis:
        """Preprocesses a drawing of two overlapping digits (`preprocess_pair`) and analyses it.

        Raises:
            NotADigit: nothing is drawn, or only a dot.
        """
        return self.analyze(preprocess_pair(drawing, ink).image)


def second_scores(lab: TwoDigitLab, images: np.ndarray, batch: int = 100) -> dict:
    """What the models' "one digit" calls read on a stack of 36x36 images: the CapsNet's
    `second_ink` and second capsule length, and the CNN's second sigmoid score,
    `{"capsnet_ink": (n,), "capsnet_length": (n,), "cnn": (n,)}`."""
    seconds = {"capsnet_ink": [], "capsnet_length": [], "cnn": []}
    for start in range(0, len(images), batch):
        for analysis in lab.analyze_batch(images[start:start + batch]):
            seconds["capsnet_ink"].append(analysis.second_ink)
            seconds["capsnet_length"].append(analysis.second_length)
            seconds["cnn"].append(analysis.cnn_scores[analysis.cnn_answers[1]])
    return {model: np.asarray(values, "float32") for model, values in seconds.items()}


def one_digit_calls(single_seconds: np.ndarray, pair_seconds: np.ndarray,
                    thresholds) -> list[dict]:
    """How a "one digit" threshold on the second score sorts images of one digit and of two.

    Args:
        single_seconds: the second score of images that hold one digit.
        pair_seconds: the second score of images that hold two.
        thresholds: the thresholds to try; below one, an image is called one digit.

    Returns:
        Per threshold: `{"threshold", "singles_right", "pairs_right", "right"}`, the counts of
        single digits called one digit, of pairs called two, and their sum.
    """
    rows = []
    for threshold in thresholds:
        singles = int(np.sum(np.asarray(single_seconds) < threshold))
        pairs = int(np.sum(np.asarray(pair_seconds) >= threshold))
        rows.append({"threshold": float(threshold), "singles_right": singles,
                     "pairs_right": pairs, "right": singles + pairs})
    return rows


def measured_note(metrics: dict) -> str:
    """How often each two-digit model names both digits of the test pairs, and how many pairs
    it has trained on, beside the paper's figures (Table 1), and of the drawn pairs where
    `scripts/drawn_pairs.py --record` measured them (`"drawn_pairs"` in the metrics file)."""
    parts = []
    for name, label, paper in (("multimnist_capsnet", "CapsNet", PAPER_ERRORS["capsnet"]),
                               ("multimnist_cnn", "CNN", PAPER_ERRORS["cnn"])):
        record = metrics.get(name, {})
        accuracy = record.get("test_accuracy")
        seen = checkpoints.training_totals(record)["examples_seen"]
        if accuracy is None:
            parts.append(f"the {label} has no measured test accuracy")
            continue
        trained = f" after {seen:,} training pairs" if seen else ""
        pairs = record.get("test_pairs", MNIST_TEST_IMAGES)  # one pair per test digit
        part = (f"the {label} names both digits of {accuracy:.1%} of {pairs:,} test "
                f"pairs{trained} (the paper's: {1 - paper:.1%})")
        drawn = record.get("drawn_pairs") or {}
        shown = drawn.get("shown_accuracy", drawn.get("accuracy"))
        if shown is not None and drawn.get("count"):
            part += f" and of {shown:.1%} of {drawn['count']:,} drawn pairs"
        parts.append(part)
    return "Measured: " + "; ".join(parts) + "."
