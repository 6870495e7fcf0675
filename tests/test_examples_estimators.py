"""The estimator examples run with small settings and reach the figures their docstrings describe."""

import pytest
from _examples import load_example

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tiny settings


def test_iris_held_out_accuracy():
    results = load_example("iris").main(optimizers=("L-BFGS-B", "adam"), max_iter=100)
    assert set(results) == {"L-BFGS-B", "adam"}
    assert min(results.values()) >= 0.9  # measured 0.94 and 0.98 (full run)


def test_digits_course_net_and_baseline():
    results = load_example("digits").main(max_iter=60)
    assert len(results) == 3 and min(results.values()) >= 0.93  # measured 0.956-0.970 at max_iter=250


def test_moons_contours_and_overfitting(tmp_path):
    results = load_example("moons").main(hidden_sizes=(1, 3, 20), max_iter=1500, out_dir=tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"moons_h1.png", "moons_h3.png", "moons_h20.png",
                                                    "moons_boundaries.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in tmp_path.iterdir())
    train = {h: r[0] for h, r in results.items()}
    assert train[1] < 0.9 and train[3] >= 0.95 and train[20] >= 0.99  # more units fit the noise
    assert results[20][1] < train[20]  # held-out accuracy stays below training accuracy


def test_mnist_estimator_small():
    results = load_example("mnist_estimator").main(n_train=2000, max_iter=40, epochs=5, passes=1)
    full, adam, stream, sklearn_mlp = results.values()
    assert full >= 0.85 and adam >= 0.85 and stream >= 0.7  # measured 0.90, 0.89, 0.77
    assert full >= sklearn_mlp - 0.03  # the same objective trains as well as scikit-learn's


def test_l2_sweep_finds_both_ends():
    out = load_example("l2_sweep").main(l2_grid=(1e-2, 1.0, 100.0), hidden_sizes=(10,), cv=3, max_iter=50, n_jobs=2)
    assert out["best_params"]["l2"] != 100.0 and out["best_cv"] >= 0.9 and out["test"] >= 0.9
    assert out["cv"][(10, 100.0)] < 0.5  # l2=100 leaves the net unable to fit: it underfits
