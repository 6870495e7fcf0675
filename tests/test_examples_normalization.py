"""examples/mnist_batchnorm.py runs end to end on a small slice; models.normalized builds and trains."""
import os
import sys

import numpy as np

from models.normalized import normalized_mlp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "examples"))
import mnist_batchnorm


def test_mnist_batchnorm_main(capsys):
    rows = mnist_batchnorm.main(epochs=2, hidden_layers=(32,), n_train=300)
    assert [r["variant"] for r in rows] == list(mnist_batchnorm.VARIANTS)
    assert all(len(r["accuracy"]) == 2 and 0.2 < r["final"] <= 1.0 for r in rows)  # chance is 0.1
    assert sum(line.startswith("| ") for line in capsys.readouterr().out.splitlines()) == 1 + len(rows)


def test_normalized_mlp_layout():
    model = normalized_mlp((16, 8), n_features=20, random_state=0)
    kinds = [type(n).__name__ for n in model.nodes]
    assert kinds == ["Input", "Dense", "BatchNorm", "ReLU", "Dropout", "Dense", "BatchNorm", "ReLU", "Dropout",
                     "Dense", "Softmax", "CrossEntropy"]
    assert model.n_state == 2 * (16 + 8)
    plain = normalized_mlp((16,), batchnorm=False, dropout=0.0, n_features=20)
    assert plain.n_state == 0 and not any(n.stochastic for n in plain.nodes)
    assert np.isfinite(model.predict_proba(np.ones((3, 20)))).all()
