"""A custom node cannot silently clobber what the graph keeps on it (its place in theta, its wiring)."""
import numpy as np
import pytest

import tinygraph as tg


class Keep(tg.Node):
    """y = x, with a hook to misbehave."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


def model_with(node, n=3):
    x = tg.Input(n)
    return tg.Graph(x, tg.MeanSquaredError()(tg.Dense(n, 1)(node(x))), random_state=0)


@pytest.mark.parametrize("name", ["start", "stop", "inputs", "out_shape", "need_dx", "size", "views"])
def test_class_attributes_with_the_graphs_names_are_refused(name):
    with pytest.raises(TypeError, match=f"defines '{name}', a name the graph uses on every node"):
        type("Bad", (Keep,), {name: 0})


def test_build_that_sets_start_is_named():
    class Window(Keep):
        def build(self, in_shape):
            self.start, self.stop = 1, 3  # meant as a window; they are the graph's slice of theta
            return in_shape

    with pytest.raises(AttributeError, match=r"Window \(window1\) changed self.start in build\(\): "
                                              r"the graph owns 'start' \(the first index of its parameters"):
        model_with(Window())


def test_init_that_sets_inputs_is_named():
    class Listy(Keep):
        def __init__(self):
            super().__init__()
            self.in_shapes = [(3,)]

    with pytest.raises(AttributeError, match="changed self.in_shapes before the graph built it"):
        model_with(Listy())


def test_forward_that_sets_stop_is_named_by_the_gradient_check_and_by_fit():
    class Counter(Keep):
        def forward(self, x):
            self.stop = x.shape[0]  # a running count under the graph's name
            return x

    with pytest.raises(AttributeError, match=r"changed self.stop in forward\(\) or backward\(\)"):
        tg.check_node_gradients(Counter(), (3,))
    model = model_with(Counter())
    X, y = np.ones((5, 3)), np.ones(5)
    with pytest.raises(AttributeError, match="changed self.stop during training"):
        tg.fit(model, X, y, tg.optim.SGD(0.1), batch_size=5, epochs=1)


def test_parameter_named_like_the_protocol_is_refused():
    class Shift(Keep):
        def build(self, in_shape):
            self.params = (("start", in_shape),)
            return in_shape

    with pytest.raises(ValueError, match="parameter 'start' would be bound as self.start"):
        model_with(Shift())


def test_nodes_reused_in_a_second_graph_and_pickled_models_pass():
    import pickle
    x = tg.Input(3)
    d = tg.Dense(3, 1)(x)
    out = tg.MeanSquaredError()(d)
    tg.Graph(x, out, random_state=0)
    model = tg.Graph(x, out, random_state=0)
    back = pickle.loads(pickle.dumps(model))
    tg.fit(back, np.ones((4, 3)), np.ones(4), "L-BFGS-B", maxiter=2)
