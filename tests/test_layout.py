"""The package layout: nodes in ``tinygraph.nodes`` (import circles and floors: tests/test_layering.py)."""
import tinygraph as tg


def test_nodes_live_in_the_nodes_package_and_stay_public():
    for name in ("Dense", "Sigmoid", "Tanh", "ReLU", "Softmax", "Identity", "Add", "Concat",
                 "CrossEntropy", "MeanSquaredError", "Loss", "Input", "Node"):
        cls = getattr(tg, name)
        assert cls.__module__.startswith("tinygraph.nodes."), (name, cls.__module__)
        assert getattr(tg.nodes, name) is cls


def test_input_takes_an_int_or_a_tuple_and_checks_x_against_it():
    import numpy as np
    import pytest

    assert tg.Input(5).shape == (5,) and tg.Input((1, 28, 28)).shape == (1, 28, 28)
    assert tg.Input((1, 28, 28)).n_features == 784
    for bad in (0, (3, 0), (), "3", (2.5,), True):
        with pytest.raises(ValueError, match="Input: the feature shape"):
            tg.Input(bad)
    model = tg.Sequential([tg.Tanh(), tg.Tanh()], input_shape=(2, 3))
    assert model.forward(np.zeros((4, 2, 3))).shape == (4, 2, 3)
    with pytest.raises(ValueError, match=r"input: expects X of shape \(N, 2, 3\), got \(4, 3, 2\)"):
        model.forward(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match=r"dense1: expects inputs of shape \(N, n_in\).*got \(N, 1, 2, 3\)"):
        tg.Sequential([tg.Dense(4)], input_shape=(1, 2, 3))
