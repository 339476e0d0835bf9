"""Two-digit training on a CPU: the warm start from the one-digit models, resumed runs, the
learning-rate schedule they carry on, and the precision flag."""

import json

import numpy as np
import pytest

from capsnet import checkpoints
from capsnet.config import PAIR_PAD, CapsNetConfig, CNNConfig, TrainConfig
from capsnet.data import MNIST, Split
from capsnet.warm_start import map_digit_transforms, nearest_places, warm_start


def nearest_by_search(source: int, target: int) -> list[int]:
    """For each target cell, the source cell whose centre lies nearest in relative terms."""
    return [int(np.argmin([abs((s + 0.5) / source - (t + 0.5) / target) for s in range(source)]))
            for t in range(target)]


def test_nearest_places_match_a_search_over_cell_centres():
    assert nearest_places(6, 10).tolist() == nearest_by_search(6, 10)
    assert nearest_places(6, 6).tolist() == list(range(6))
    assert nearest_places(6, 10).tolist() == [0, 0, 1, 2, 2, 3, 3, 4, 5, 5]


def test_digit_transforms_are_taken_from_the_nearest_place_for_every_type():
    types, source, target = 3, 6, 10
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(source * source * types, 10, 16, 8)).astype("float32")
    mapped = map_digit_transforms(kernel, source, target, types)
    assert mapped.shape == (target * target * types, 10, 16, 8)
    rows = nearest_by_search(source, target)
    for row in range(target):
        for col in range(target):
            for kind in range(types):
                expected = kernel[(rows[row] * source + rows[col]) * types + kind]
                np.testing.assert_array_equal(mapped[(row * target + col) * types + kind],
                                              expected)


@pytest.fixture(scope="module")
def one_digit_folder(tmp_path_factory):
    """Untrained one-digit models, saved as the shipped ones are."""
    from capsnet.models import build_capsnet, build_cnn

    folder = tmp_path_factory.mktemp("one_digit")
    for name, built in (("capsnet", build_capsnet(seed=3)), ("cnn", build_cnn(seed=3))):
        checkpoints.save(name, built.model, built.config, {"model": name}, folder)
    return folder


def test_warm_started_capsnet_redraws_a_capsule_as_the_one_digit_decoder_in_the_middle(
        one_digit_folder):
    from capsnet.models import build_capsnet

    source, _ = checkpoints.load("capsnet", one_digit_folder)
    pairs = build_capsnet(CapsNetConfig.for_pairs(), seed=0)
    done = warm_start("multimnist_capsnet", pairs, one_digit_folder)
    assert done["copied"] == ["conv1", "primary_caps", "decoder hidden layer 1",
                              "decoder hidden layer 2"]
    assert done["weights_sha256"] == checkpoints.sha256(one_digit_folder /
                                                        "capsnet.weights.h5")

    rng = np.random.default_rng(1)
    capsules = rng.normal(scale=0.3, size=(4, 10, 16)).astype("float32")
    one_hot = np.eye(10, dtype="float32")[[0, 3, 5, 9]]
    small = np.asarray(source.reconstructor.predict_on_batch([capsules, one_hot]))
    large = np.asarray(pairs.reconstructor.predict_on_batch([capsules, one_hot]))
    middle = slice(PAIR_PAD, PAIR_PAD + 28)
    np.testing.assert_allclose(large[:, middle, middle], small, atol=1e-6)
    outside = np.ones((36, 36), bool)
    outside[middle, middle] = False  # the border starts blank: the faintest bias, no weights
    bias = source.model.get_layer("decoder").layers[-2].get_weights()[1]
    np.testing.assert_allclose(large[:, outside, 0], 1 / (1 + np.exp(-bias.min())), rtol=1e-5)

    # The same strokes give the same Conv1 features.
    image = rng.uniform(size=(1, 28, 28, 1)).astype("float32")
    canvas = np.zeros((1, 36, 36, 1), "float32")
    canvas[:, middle, middle] = image
    features = slice(PAIR_PAD, PAIR_PAD + 20)  # Conv1's 20x20 map of the 28x28 field
    np.testing.assert_allclose(np.asarray(pairs.model.get_layer("conv1")(canvas))[:, features,
                                                                                  features],
                               np.asarray(source.model.get_layer("conv1")(image)), atol=1e-5)


def test_warm_started_cnn_copies_every_layer_but_the_head_convolution(one_digit_folder):
    from capsnet.models import build_cnn

    source, _ = checkpoints.load("cnn", one_digit_folder)
    pairs = build_cnn(CNNConfig.for_pairs(), seed=0)
    done = warm_start("multimnist_cnn", pairs, one_digit_folder)
    assert len(done["fresh"]) == 1  # the convolution that sees the whole remaining map
    for source_layer, layer in zip(source.model.layers, pairs.model.layers, strict=True):
        if layer.name in done["copied"]:
            for before, after in zip(source_layer.weights, layer.weights, strict=True):
                np.testing.assert_array_equal(np.asarray(after), np.asarray(before))
    assert pairs.model.layers[-1].name in done["copied"]  # the output layer


def test_warm_start_refuses_a_one_digit_model(one_digit_folder):
    from capsnet.models import build_cnn

    with pytest.raises(ValueError, match="name must be one of"):
        warm_start("cnn", build_cnn(seed=0), one_digit_folder)


def test_step_decay_carries_the_steps_of_earlier_runs():
    from capsnet.training import StepDecay

    schedule = StepDecay(1e-3, decay_steps=10, rate=0.5)
    assert [float(schedule(step)) for step in (0, 9, 10, 25)] == pytest.approx(
        [1e-3, 1e-3, 5e-4, 2.5e-4])
    resumed = StepDecay(1e-3, decay_steps=10, rate=0.5, offset=25)
    assert float(resumed(0)) == pytest.approx(float(schedule(25)))
    assert float(resumed(5)) == pytest.approx(float(schedule(30)))


def small_mnist(mnist_path, train: int, validation: int, test: int) -> MNIST:
    from capsnet.data import load_mnist

    data = load_mnist(mnist_path, validation_size=validation, seed=1)
    return MNIST(Split(data.train.images[:train], data.train.labels[:train]),
                 data.validation,
                 Split(data.test.images[:test], data.test.labels[:test]))


def test_a_resumed_run_carries_on_the_schedule_the_pairs_seen_and_the_best_weights(
        tmp_path, mnist_path):
    from capsnet.training import train

    data = small_mnist(mnist_path, train=200, validation=100, test=100)
    first = TrainConfig(epochs=2, batch_size=50, lr_decay=0.5, validation_size=100,
                        epoch_size=100)  # two epochs make one pass over the 200 digits
    record = train("multimnist_cnn", data, first, tmp_path, verbose=0, resume=True)
    assert "init" not in record  # nothing to go on from: a new run
    assert record["pairs_seen"] == record["pairs_seen_total"] == 200
    rates = [entry["learning_rate"] for entry in record["history"]]  # at each epoch's end
    assert rates == pytest.approx([1e-3, 5e-4])  # the pass over the digits ends the second
    best = checkpoints.sha256(tmp_path / "multimnist_cnn.weights.h5")

    # An earlier score that no epoch can beat: the earlier best weights stay in place.
    metrics_path = tmp_path / "multimnist_cnn.json"
    earlier = checkpoints.read_metrics("multimnist_cnn", tmp_path)
    metrics_path.write_text(json.dumps({**earlier, "validation_accuracy": 1.0}))
    again = TrainConfig(epochs=1, batch_size=50, lr_decay=0.5, validation_size=100,
                        epoch_size=100)
    resumed = train("multimnist_cnn", data, again, tmp_path, verbose=0, resume=True)
    assert resumed["init"]["resumed"] and resumed["init"]["examples_seen"] == 200
    assert resumed["pairs_seen"] == 100 and resumed["pairs_seen_total"] == 300
    assert resumed["best_epoch"] == 0 and resumed["validation_accuracy"] == 1.0
    assert checkpoints.training_totals(resumed)["epochs_run"] == 3
    assert checkpoints.sha256(tmp_path / "multimnist_cnn.weights.h5") == best
    # 4 steps before and 2 now: still in the second pass (without the 4, it would be the first)
    assert resumed["history"][0]["learning_rate"] == pytest.approx(5e-4)


def test_the_learning_rate_decays_every_so_many_examples_whatever_the_training_set(
        tmp_path, mnist_path):
    from capsnet.training import train

    data = small_mnist(mnist_path, train=200, validation=100, test=100)
    config = TrainConfig(epochs=2, batch_size=50, lr_decay=0.5, lr_decay_every=100,
                         validation_size=100, epoch_size=100)
    record = train("multimnist_cnn", data, config, tmp_path, verbose=0)
    rates = [entry["learning_rate"] for entry in record["history"]]  # at each epoch's end
    assert rates == pytest.approx([5e-4, 2.5e-4])  # 100 pairs each: a decay each
    assert record["train"]["lr_decay_every"] == 100
    with pytest.raises(ValueError, match="lr_decay_every"):
        TrainConfig(lr_decay_every=10)  # less than a batch


def test_pairs_seen_are_the_pairs_trained_on_where_an_epoch_stops_at_the_end_of_a_pass(
        tmp_path, mnist_path):
    import keras

    from capsnet.training import examples_seen, train

    class Steps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.per_epoch = []

        def on_epoch_begin(self, epoch, logs=None):
            self.per_epoch.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.per_epoch[-1] += 1

    data = small_mnist(mnist_path, train=200, validation=100, test=100)
    config = TrainConfig(epochs=3, batch_size=50, validation_size=100, epoch_size=150)
    steps = Steps()
    record = train("multimnist_cnn", data, config, tmp_path, verbose=0, callbacks=[steps])
    # 4 steps make a pass over the 200 digits: the second epoch stops at its end, the third
    # begins the next pass
    assert steps.per_epoch == [3, 1, 3]
    assert record["pairs_seen"] == record["pairs_seen_total"] == 50 * 7  # not 3 * 150
    # the last batch of a pass is the rest: 190 digits are batches of 50, 50, 50 and 40
    assert [examples_seen(n, 190, 50) for n in (3, 4, 5, 8)] == [150, 190, 240, 380]


def test_a_moving_average_of_the_weights_is_what_the_best_epoch_saves(tmp_path, mnist_path):
    import keras

    from capsnet.training import train

    class Steps(keras.callbacks.Callback):
        """The weights as trained, after each step."""

        def __init__(self):
            super().__init__()
            self.weights = []

        def on_train_batch_end(self, batch, logs=None):
            self.weights.append([keras.ops.convert_to_numpy(v).astype("float64")
                                 for v in self.model.trainable_weights])

    data = small_mnist(mnist_path, train=200, validation=100, test=100)
    momentum = 0.5
    config = TrainConfig(epochs=1, batch_size=50, augment="shift", validation_size=100,
                         ema=momentum)
    steps = Steps()
    record = train("cnn", data, config, tmp_path, verbose=0, callbacks=[steps])
    assert record["train"]["ema"] == momentum and record["best_epoch"] == 1
    assert len(steps.weights) == 4
    average = steps.weights[0]  # the average starts at the weights after the first step
    for weights in steps.weights[1:]:
        average = [momentum * a + (1 - momentum) * w
                   for a, w in zip(average, weights, strict=True)]
    saved, _ = checkpoints.load("cnn", tmp_path)
    stored = [keras.ops.convert_to_numpy(v) for v in saved.model.trainable_weights]
    assert [w.shape for w in stored] == [a.shape for a in average]
    for value, expected in zip(stored, average, strict=True):
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    last = steps.weights[-1]
    difference = max(np.abs(value - w).max() for value, w in zip(stored, last, strict=True))
    assert difference > 1e-4  # not the weights as trained last
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)


def test_a_run_that_goes_on_draws_new_pairs_rather_than_replaying_the_first_runs(
        tmp_path, mnist_path, monkeypatch):
    import keras

    from capsnet import training
    from capsnet.layers import OverlayPairs

    seeds = []  # the seed each run's trainer draws its pairs and shifts from
    build_cnn = training.build_cnn

    def recording_build_cnn(*args, seed=None, **kwargs):
        seeds.append(seed)
        return build_cnn(*args, seed=seed, **kwargs)

    monkeypatch.setattr(training, "build_cnn", recording_build_cnn)
    data = small_mnist(mnist_path, train=100, validation=50, test=50)
    config = TrainConfig(epochs=1, batch_size=50, validation_size=50, seed=5)
    first = training.train("multimnist_cnn", data, config, tmp_path / "a", verbose=0,
                           resume=True)
    resumed = training.train("multimnist_cnn", data, config, tmp_path / "a", verbose=0,
                             resume=True)
    continued = training.train("multimnist_cnn", data, config, tmp_path / "b", verbose=0,
                               init=tmp_path / "a")
    assert seeds == [5, 105, 205]  # 100 pairs a run: each run's stream is a new one
    assert [first["stream_seed"], resumed["stream_seed"], continued["stream_seed"]] == seeds

    # The pairs a trainer makes follow its seed: a replayed seed replays them.
    digits, labels = data.train.images[:50], data.train.one_hot()[:50]

    def first_pairs(seed):
        return keras.ops.convert_to_numpy(
            OverlayPairs(4, seed)([digits, labels])[0])

    np.testing.assert_array_equal(first_pairs(5), first_pairs(5))
    assert not np.array_equal(first_pairs(5), first_pairs(105))



@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_run_at_the_epoch_boundary_with_its_record_written(
        tmp_path, mnist_path, signum):
    import os
    import signal

    import keras

    from capsnet.training import StopOnSignal, train

    class SignalInFirstEpoch(keras.callbacks.Callback):  # as `kill -TERM` during a run
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0 and not self.model.stop_training:
                os.kill(os.getpid(), getattr(signal, signum))

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    data = small_mnist(mnist_path, train=200, validation=50, test=50)
    config = TrainConfig(epochs=3, batch_size=50, validation_size=50, epoch_size=100)
    stop = StopOnSignal()
    record = train("multimnist_cnn", data, config, tmp_path, verbose=0,
                   callbacks=[stop, SignalInFirstEpoch()])
    assert stop.received == signum
    assert record["epochs_run"] == 1 and record["pairs_seen"] == 100  # both steps of it
    assert record["test_pairs"] == 50 and record["best_epoch"] == 1
    assert checkpoints.read_metrics("multimnist_cnn", tmp_path)["pairs_seen_total"] == 100
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_run_killed_outright_leaves_its_best_weights_with_their_pairs_and_seconds(
        tmp_path, mnist_path):
    import keras

    from capsnet.training import train

    class KilledInSecondEpoch(keras.callbacks.Callback):  # as `kill -9` after an epoch
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("killed")

    data = small_mnist(mnist_path, train=200, validation=50, test=50)
    config = TrainConfig(epochs=3, batch_size=50, validation_size=50, epoch_size=100)
    with pytest.raises(RuntimeError, match="killed"):
        train("multimnist_cnn", data, config, tmp_path, verbose=0,
              callbacks=[KilledInSecondEpoch()])
    left = checkpoints.read_metrics("multimnist_cnn", tmp_path)
    assert left["pairs_seen_total"] == 100 and left["best_epoch"] == 1
    assert left["training_seconds"] > 0
    assert checkpoints.training_totals(left)["training_seconds"] == left["training_seconds"]
    checkpoints.load("multimnist_cnn", tmp_path)  # weights and checksum in place


def test_warm_start_is_recorded_and_kept_when_resumed(tmp_path, mnist_path, one_digit_folder):
    from capsnet.training import train

    data = small_mnist(mnist_path, train=100, validation=50, test=50)
    config = TrainConfig(epochs=1, batch_size=50, validation_size=50)
    record = train("multimnist_cnn", data, config, tmp_path, verbose=0,
                   warm_start=one_digit_folder, resume=True)
    assert record["warm_start"]["weights_sha256"] == checkpoints.sha256(
        one_digit_folder / "cnn.weights.h5")
    resumed = train("multimnist_cnn", data, config, tmp_path, verbose=0,
                    warm_start=one_digit_folder, resume=True)
    assert resumed["init"]["resumed"] and resumed["warm_start"] == record["warm_start"]


def test_mixed_bfloat16_trains_a_two_digit_capsnet_step_and_stores_float32_weights(tmp_path):
    import keras

    from capsnet.models import build_capsnet
    from capsnet.training import compile_trainer

    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        built = build_capsnet(CapsNetConfig.for_pairs(), seed=0)
    finally:
        keras.config.set_dtype_policy("float32")
    compile_trainer("multimnist_capsnet", built, TrainConfig(), steps_per_epoch=1)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 28, 28, 1)).astype("float32")
    labels = np.eye(10, dtype="float32")[[0, 1, 2, 3]]
    logs = built.trainer.train_on_batch([images, labels], labels, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0
    assert all(weight.dtype == "float32" for weight in built.model.weights)
    lengths = built.model.predict_on_batch(np.zeros((1, 36, 36, 1), "float32"))["lengths"]
    assert np.all(np.isfinite(np.asarray(lengths, "float32")))


def test_train_config_refuses_an_unknown_precision_and_a_tiny_epoch():
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="float8")
    with pytest.raises(ValueError, match="at least one batch"):
        TrainConfig(batch_size=100, epoch_size=10)


def test_frozen_layers_keep_their_weights_while_the_rest_of_the_capsnet_trains(tmp_path,
                                                                             mnist_path):
    import dataclasses

    import keras

    from capsnet.training import train

    data = small_mnist(mnist_path, train=100, validation=50, test=50)
    small = dataclasses.replace(CapsNetConfig.for_pairs(), conv1_filters=16, primary_types=4)
    config = TrainConfig(epochs=1, batch_size=50, augment="shift", validation_size=50)
    train("multimnist_capsnet", data, config, tmp_path / "first", small, verbose=0)
    frozen = ("conv1", "primary_caps")
    train("multimnist_capsnet", data, dataclasses.replace(config, freeze=frozen),
          tmp_path / "then", verbose=0, init=tmp_path / "first")
    recorded = checkpoints.read_metrics("multimnist_capsnet", tmp_path / "then")["train"]
    assert recorded["freeze"] == list(frozen)

    def layer_weights(folder):
        model = checkpoints.load("multimnist_capsnet", folder)[0].model
        return {layer.name: [keras.ops.convert_to_numpy(v) for v in layer.weights]
                for layer in model.layers if layer.weights}

    before, after = layer_weights(tmp_path / "first"), layer_weights(tmp_path / "then")
    assert set(before) >= {*frozen, "digit_caps", "decoder"}
    for name in before:
        same = all(np.array_equal(b, a) for b, a in zip(before[name], after[name], strict=True))
        assert same == (name in frozen), f"{name}: {'unchanged' if same else 'changed'}"
    with pytest.raises(ValueError, match="conv9"):
        train("multimnist_capsnet", data, dataclasses.replace(config, freeze=("conv9",)),
              tmp_path / "unknown", small, verbose=0)
