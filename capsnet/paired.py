"""Two sets of weights compared example by example on the same test set.

Two models' error counts on the same 10,000 examples differ by chance far less than two
counts on different examples would: most examples are right for both, or wrong for both,
and only the ones where they disagree say which is better. McNemar's test asks whether those
disagreements split more unevenly than coin flips would; its exact form is a two-sided
binomial test on them (McNemar 1947; Fagerland, Lydersen and Laake 2013).
"""

from __future__ import annotations

import math

import numpy as np


def mcnemar_p(wins: int, losses: int) -> float:
    """The exact two-sided McNemar p-value of `wins` against `losses` disagreements: the
    chance, were each disagreement a fair coin flip, of a split at least this uneven.

    >>> mcnemar_p(1, 4)  # 2 * (1 + 5) / 2**5
    0.375
    """
    disagreements = wins + losses
    if disagreements == 0:
        return 1.0
    tail = sum(math.comb(disagreements, k) for k in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / 2 ** disagreements)  # big integers: exact until the division


def compare(right: np.ndarray, other_right: np.ndarray) -> dict:
    """How two models' answers on the same examples differ.

    Args:
        right: per example, whether the model measured got it right.
        other_right: the same for the model it is compared against, in the same order.

    Returns:
        `test_errors` of the other model; `wins`, the examples only the model measured gets
        right; `losses`, the ones only the other gets right; and the exact McNemar
        `mcnemar_p` of that split.
    """
    right, other_right = np.asarray(right, bool), np.asarray(other_right, bool)
    if right.shape != other_right.shape:
        raise ValueError(f"answers to compare differ in shape: {right.shape} and "
                         f"{other_right.shape}")
    wins, losses = int((right & ~other_right).sum()), int((other_right & ~right).sum())
    return {"test_errors": int((~other_right).sum()), "wins": wins, "losses": losses,
            "mcnemar_p": round(mcnemar_p(wins, losses), 6)}
