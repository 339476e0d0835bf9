"""Two sets of weights compared example by example: the exact McNemar test, and
`train.py evaluate --against` on one digit and on pairs."""

import json
import math

import numpy as np
import pytest

from capsnet import checkpoints, multimnist
from capsnet.config import CNNConfig
from capsnet.data import load_test
from capsnet.models import build_cnn
from capsnet.paired import compare, mcnemar_p
from capsnet.samples import load_sample


def test_mcnemar_p_matches_the_binomial_tail_worked_by_hand():
    assert mcnemar_p(0, 0) == 1.0  # no disagreement: no evidence either way
    assert mcnemar_p(7, 7) == 1.0  # an even split, and the two-sided p is capped at 1
    assert mcnemar_p(1, 4) == pytest.approx(2 * (1 + 5) / 2**5)  # 0.375
    assert mcnemar_p(0, 10) == pytest.approx(2 / 2**10)  # every disagreement one way
    assert mcnemar_p(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 2**10)  # 0.109375
    assert mcnemar_p(84, 69) == mcnemar_p(69, 84)  # the order does not matter


@pytest.mark.parametrize("wins, losses", [(84, 69), (120, 80), (530, 470), (40, 75)])
def test_mcnemar_p_agrees_with_the_chi_square_approximation_on_many_disagreements(wins, losses):
    """McNemar's chi-square with Yates' continuity correction, (|b - c| - 1)^2 / (b + c) on
    one degree of freedom, approaches the exact test as the disagreements grow."""
    chi2 = (abs(wins - losses) - 1) ** 2 / (wins + losses)
    approximate = math.erfc(math.sqrt(chi2 / 2))
    assert mcnemar_p(wins, losses) == pytest.approx(approximate, rel=0.05, abs=2e-4)


def test_compare_counts_the_examples_only_one_side_gets_right():
    right = np.array([1, 1, 0, 0, 1, 0, 1, 1], bool)
    other = np.array([1, 0, 1, 0, 0, 0, 0, 1], bool)
    assert compare(right, other) == {"test_errors": 5, "wins": 3, "losses": 1,
                                     "mcnemar_p": pytest.approx(mcnemar_p(3, 1), abs=1e-6)}
    assert compare(right, right) == {"test_errors": 3, "wins": 0, "losses": 0, "mcnemar_p": 1.0}
    with pytest.raises(ValueError, match="differ in shape"):
        compare(right, other[:-1])


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """An MNIST file whose test set is the committed sample's 329 digits."""
    sample = load_sample()
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    np.savez(path, x_train=sample.images[:2], y_train=sample.labels[:2],
             x_test=sample.images, y_test=sample.labels)
    return path


def two_folders(tmp_path, name, config):
    """Two untrained CNNs under `name`, from different seeds, each in its own folder."""
    folders = []
    for seed in (0, 1):
        built = build_cnn(config, seed=seed)
        folder = tmp_path / f"seed{seed}"
        checkpoints.save(name, built.model, built.config, {"model": name}, folder)
        folders.append(folder)
    return folders


def evaluate(capsys, *args):
    import train

    assert train.main(["evaluate", "--model", "cnn", *map(str, args)]) == 0
    printed = capsys.readouterr()
    return json.loads(printed.out), printed.err


@pytest.mark.parametrize("task", ["mnist", "multimnist"])
def test_evaluate_against_compares_two_folders_on_the_same_examples(task, tmp_path, stand_in,
                                                                   capsys):
    pairs = task == "multimnist"
    name = "multimnist_cnn" if pairs else "cnn"
    first, second = two_folders(tmp_path, name, CNNConfig.for_pairs() if pairs else CNNConfig())

    # The reference: each folder's answers, read here directly from its model.
    test = load_test(stand_in)
    examples = multimnist.test_pairs(test) if pairs else test
    right = []
    for folder in (first, second):
        model = checkpoints.load(name, folder)[0].model
        answers = model.predict_on_batch(examples.images)
        right.append(multimnist.both_named(examples.labels, answers) if pairs
                     else answers.argmax(axis=-1) == examples.labels)
    wins, losses = int((right[0] & ~right[1]).sum()), int((right[1] & ~right[0]).sum())
    assert wins + losses > 0  # different seeds disagree somewhere, or the test shows nothing

    printed, said = evaluate(capsys, "--task", task, "--data", stand_in, "--weights", first,
                             "--against", second)
    measured = printed[name]
    assert measured["test_errors"] == int((~right[0]).sum())
    assert measured["against"] == {"weights": str(second), "test_errors": int((~right[1]).sum()),
                                   "wins": wins, "losses": losses,
                                   "mcnemar_p": pytest.approx(mcnemar_p(wins, losses),
                                                              abs=1e-6)}
    assert f"{name}: {wins} test examples right only with" in said
    assert f"{losses} only with" in said and "exact McNemar p =" in said

    printed, _ = evaluate(capsys, "--task", task, "--data", stand_in, "--weights", second,
                          "--against", first)  # the other way round: wins and losses swap
    assert (printed[name]["against"]["wins"], printed[name]["against"]["losses"]) == (
        losses, wins)

    printed, said = evaluate(capsys, "--task", task, "--data", stand_in, "--weights", first,
                             "--against", first)  # a folder against itself: no disagreement
    assert printed[name]["against"]["wins"] == printed[name]["against"]["losses"] == 0
    assert printed[name]["against"]["mcnemar_p"] == 1.0 and "within chance" in said


def test_evaluate_against_leaves_the_metrics_file_alone(tmp_path, stand_in, capsys):
    """--record writes the measurement of the weights measured, never the comparison."""
    first, second = two_folders(tmp_path, "multimnist_cnn", CNNConfig.for_pairs())
    printed, _ = evaluate(capsys, "--task", "multimnist", "--data", stand_in, "--weights", first,
                          "--against", second, "--record")
    metrics = checkpoints.read_metrics("multimnist_cnn", first)
    assert metrics["test_errors"] == printed["multimnist_cnn"]["test_errors"]
    assert "against" not in metrics
    assert "test_errors" not in checkpoints.read_metrics("multimnist_cnn", second)


def test_evaluate_against_a_folder_without_weights_is_a_clear_error(tmp_path, stand_in,
                                                                     capsys):
    import train

    first, _ = two_folders(tmp_path, "cnn", CNNConfig())
    code = train.main(["evaluate", "--model", "cnn", "--data", str(stand_in), "--weights",
                       str(first), "--against", str(tmp_path / "absent")])
    said = capsys.readouterr()
    assert code == 2 and said.err.startswith("error: ") and "Traceback" not in said.err
    assert said.out == ""  # nothing half-printed
