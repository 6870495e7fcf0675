"""tg.plot_history: the loss curve of a fit, one call away."""
import numpy as np
import pytest

import tinygraph as tg

matplotlib = pytest.importorskip("matplotlib", reason="plot_history needs the plot extra (matplotlib)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture
def result():
    X = np.random.default_rng(0).standard_normal((60, 3))
    y = (X[:, 0] > 0).astype(int)
    model = tg.Sequential([tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    yield tg.fit(model, X, y, "adam", batch_size=20, epochs=4, validation_data=(X, y))
    plt.close("all")


def test_curves_are_the_history(result):
    ax = tg.plot_history(result)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == ["training loss", "validation loss"]
    np.testing.assert_array_equal(lines["training loss"].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(lines["training loss"].get_ydata(), result.history["epoch_loss"])
    np.testing.assert_array_equal(lines["validation loss"].get_ydata(), result.history["val_loss"])
    score, = ax.right_ax.get_lines()
    np.testing.assert_array_equal(score.get_ydata(), result.history["val_score"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["training loss", "validation loss", "validation score"]


def test_against_time_and_steps_and_into_given_axes(result):
    _, ax = plt.subplots()
    assert tg.plot_history(result.history, x="time", ax=ax, logy=True, title="t") is ax
    line = ax.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), result.history["epoch_time"])
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "time (s)" and ax.get_title() == "t"
    steps = tg.plot_history(result, x="step")
    assert len(steps.get_lines()) == 1 and steps.get_lines()[0].get_ydata().size == 12  # 3 steps x 4 epochs


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="x must be one of"):
        tg.plot_history({"epoch_loss": [1.0]}, x="epochs")
    with pytest.raises(ValueError, match="no loss"):
        tg.plot_history({"epoch_loss": []})
    with pytest.raises(TypeError, match="expects the result of tg.fit"):
        tg.plot_history(3.0)
