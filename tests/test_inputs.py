"""Graphs with several inputs: X as a tuple or a dict, in every path that takes X; clear refusals."""
from contextlib import nullcontext

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.inputs import Inputs


def two_input_model(random_state=0, **kwargs):
    a, b = tg.Input(5, name="a"), tg.Input((2, 3), name="b")
    h = tg.Tanh()(tg.Dense(5, 4)(a))
    hb = tg.Tanh()(tg.Dense(6, 3)(FlattenLike()(b)))
    out = tg.Softmax()(tg.Dense(7, 3)(tg.Concat()(h, hb)))
    return tg.Graph([a, b], tg.CrossEntropy()(out), random_state=random_state, **kwargs)


class FlattenLike(tg.Node):
    """(N, 2, 3) -> (N, 6): a reshape, for the test's second input."""

    def build(self, in_shape):
        return (int(np.prod(in_shape)),)

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.x_shape)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 5)), rng.standard_normal((40, 2, 3)), rng.integers(0, 3, 40)


def test_tuple_and_dict_give_the_same_loss_gradient_and_outputs(data):
    Xa, Xb, y = data
    model = two_input_model()
    assert [n.name for n in model.inputs] == ["a", "b"] and model.nodes[:2] == list(model.inputs)
    l1, g1 = model.loss_and_grad(model.theta, (Xa, Xb), y)
    l2, g2 = model.loss_and_grad(model.theta, {"b": Xb, "a": Xa}, y)
    assert l1 == l2 and np.array_equal(g1, g2)
    np.testing.assert_array_equal(model.predict((Xa, Xb)), model.predict({"a": Xa, "b": Xb}))
    assert model.forward([Xa, Xb]).shape == (40, 3)
    assert tg.check_gradients(model, (Xa, Xb), y) < 1e-6


def test_row_blocks_equal_one_thread(data):
    Xa, Xb, y = data
    model = two_input_model()
    l1, g1 = model.loss_and_grad(model.theta, (Xa, Xb), y)
    l2, g2 = model.loss_and_grad(model.theta, (Xa, Xb), y, n_jobs=3)
    assert l2 == pytest.approx(l1, rel=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-14)


def test_minibatches_gather_every_input_in_step(data):
    # the same rows of a and b in every batch: a graph reading one input that carries both halves
    # (sliced inside the graph) takes the very same steps
    Xa, Xb, y = data
    model = two_input_model()
    res = tg.fit(model, (Xa, Xb), y, tg.optim.Adam(0.01), batch_size=7, epochs=3, random_state=1)
    x = tg.Input(11, name="ab")
    h = tg.Tanh()(tg.Dense(5, 4)(tg.Slice(0, 5)(x)))
    hb = tg.Tanh()(tg.Dense(6, 3)(tg.Slice(5, 11)(x)))
    out = tg.Softmax()(tg.Dense(7, 3)(tg.Concat()(h, hb)))
    one = tg.Graph(x, tg.CrossEntropy()(out), random_state=0)
    np.copyto(one.theta, two_input_model().theta)
    res1 = tg.fit(one, np.hstack([Xa, Xb.reshape(40, 6)]), y, tg.optim.Adam(0.01), batch_size=7, epochs=3,
                  random_state=1)
    np.testing.assert_allclose(model.theta, one.theta, rtol=1e-10, atol=1e-12)
    assert res.fun == pytest.approx(res1.fun, rel=1e-10)


@pytest.mark.parametrize("method", ["L-BFGS-B", "Newton-CG"])
def test_scipy_methods_and_validation_take_several_inputs(data, method):
    Xa, Xb, y = data
    model = two_input_model()
    # FlattenLike has no R-operators: Newton-CG's Hessian products are finite differences, said once
    expect = pytest.warns(UserWarning, match="FlattenLike has no rforward") if method == "Newton-CG" else nullcontext()
    with expect:
        res = tg.fit(model, (Xa, Xb), y, method, maxiter=30, validation_data=((Xa, Xb), y))
    assert res.fun < 1.0 and len(res.history["val_loss"]) == res.nit
    assert model.score({"a": Xa, "b": Xb}, y) > 0.6


def test_save_and_load_keep_the_inputs_in_order(data, tmp_path):
    Xa, Xb, _ = data
    model = two_input_model()
    tg.register_node(FlattenLike)
    back = tg.load(tg.save(model, tmp_path / "two"))
    assert [n.name for n in back.inputs] == ["a", "b"]
    np.testing.assert_array_equal(back.forward((Xa, Xb)), model.forward((Xa, Xb)))


@pytest.mark.parametrize("X, error, match", [
    (lambda a, b: a, TypeError, r"2 inputs \['a', 'b'\]: pass X as a tuple of 2 arrays"),
    (lambda a, b: (a,), TypeError, "got tuple of length 1"),
    (lambda a, b: {"a": a}, ValueError, r"X is missing \['b'\]"),
    (lambda a, b: {"a": a, "b": b, "c": a}, ValueError, r"unknown keys \['c'\]"),
    (lambda a, b: (a[:30], b), ValueError, "b: X has 40 rows but a has 30"),
    (lambda a, b: (a, b[:, 0]), ValueError, r"b: expects X of shape \(N, 2, 3\)"),
])
def test_bad_inputs_are_named(data, X, error, match):
    Xa, Xb, y = data
    model = two_input_model()
    with pytest.raises(error, match=match):
        model.loss_and_grad(model.theta, X(Xa, Xb), y)


def test_graph_refuses_unused_or_repeated_inputs():
    a, b = tg.Input(2), tg.Input(3)
    out = tg.MeanSquaredError()(tg.Dense(2, 1)(a))
    with pytest.raises(ValueError, match="do not lead to the output"):
        tg.Graph([a, b], out)
    with pytest.raises(ValueError, match="listed twice"):
        tg.Graph([a, a], out)
    with pytest.raises(TypeError, match="once"):
        tg.Graph(a, out, inputs=[a])
    assert tg.Graph(inputs=[a], output=out).inputs == (a,)


def test_inputs_index_take_and_rows():
    X = Inputs((np.arange(6.0).reshape(3, 2), np.arange(3.0)))
    assert X.shape == (3,) and len(X) == 3
    assert np.array_equal(X[1:].arrays[1], [1.0, 2.0])
    out = Inputs((np.empty((2, 2)), np.empty(2)))
    got = X.take(np.array([2, 0]), axis=0, out=out, mode="clip")
    assert got.arrays[0] is not None and np.array_equal(out.arrays[1], [2.0, 0.0])


def test_dask_refuses_several_inputs(data):
    da = pytest.importorskip("dask.array")
    Xa, Xb, y = data
    model = two_input_model()
    with pytest.raises(ValueError, match="several inputs"):
        tg.fit(model, (da.from_array(Xa), da.from_array(Xb)), y)
    with pytest.raises(ValueError, match="several inputs"):
        tg.dask.fit(model, da.from_array(Xa), da.from_array(y))


def test_single_input_graph_still_takes_a_dict_by_name():
    x = tg.Input(2, name="features")
    model = tg.Graph(x, tg.MeanSquaredError()(tg.Dense(2, 1)(x)), random_state=0)
    X = np.ones((3, 2))
    np.testing.assert_array_equal(model.forward({"features": X}), model.forward(X))
