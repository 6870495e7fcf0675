"""models/recurrent.py: the builders' shapes and errors, the addition problem's data, and both nets
learning on small real data."""
import numpy as np
import pytest

import tinygraph as tg
from models import recurrent


@pytest.fixture(autouse=True)
def one_blas_thread():
    with tg.blas_threads(1):
        yield


def test_addition_problem_data():
    X, y = recurrent.addition_problem(500, 20, random_state=0)
    assert X.shape == (500, 20, 2) and y.shape == (500,)
    assert (X[:, :, 1].sum(axis=1) == 2).all()
    assert (X[:, :10, 1].sum(axis=1) == 1).all()  # one marker in each half
    np.testing.assert_allclose(y, (X[:, :, 0] * X[:, :, 1]).sum(axis=1))
    assert abs(np.mean((1 - y) ** 2) - 1 / 6) < 0.03
    with pytest.raises(ValueError, match="T must be at least 2"):
        recurrent.addition_problem(3, 1)


def test_builders():
    model = recurrent.sequence_classifier(cell="gru", units=8, random_state=0)
    assert [type(n).__name__ for n in model.nodes] == ["Input", "GRU", "Dense", "Softmax", "CrossEntropy"]
    assert model.nodes[0].shape == (28, 28)
    with pytest.raises(ValueError, match="cell must be one of"):
        recurrent.sequence_regressor((5, 2), cell="transformer")
    training = recurrent.TRAINING
    assert training["batch_size"] == 64 and training["optimizer"] is not recurrent.TRAINING["optimizer"]


def test_sequence_classifier_learns_row_mnist():
    Xtr, Xte, ytr, yte = recurrent.mnist_rows()
    model = recurrent.sequence_classifier(units=32, random_state=0)
    tg.fit(model, Xtr[:2000], ytr[:2000], tg.optim.Adam(1e-2), batch_size=64, epochs=2, random_state=0)
    assert model.score(Xte[:500], yte[:500]) > 0.65  # 0.73 measured; chance is 0.1


def test_sequence_regressor_learns_short_addition():
    X, y = recurrent.addition_problem(2000, 10, random_state=0)
    Xte, yte = recurrent.addition_problem(300, 10, random_state=1)
    model = recurrent.sequence_regressor((10, 2), units=16, random_state=0)
    tg.fit(model, X, y, tg.optim.Adam(2e-2), batch_size=64, epochs=5, random_state=0)
    assert np.mean((model.predict(Xte) - yte) ** 2) < 0.02  # 0.009 measured; 0.167 by predicting 1
