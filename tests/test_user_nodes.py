"""A user's own nodes: saved without writing get_config, drawn without being guessed at."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.render import summary


@tg.register_node
class ArgTanh(tg.Node):
    """y = a·tanh(b·x); dx = a·b·(1 - tanh²(b·x))·dy. Constructor arguments, no get_config."""

    cached = ("t",)

    def __init__(self, a, b=1.0, *, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self.a, self.b = a, b

    def forward(self, x):
        self.t = np.tanh(self.b * x)
        return self.a * self.t

    def backward(self, dy):
        return self.a * self.b * (1 - self.t ** 2) * dy


@tg.register_node
class Renamed(tg.Node):
    """Keeps its argument under another name: cannot be rebuilt from its attributes."""

    def __init__(self, width, *, name=None):
        super().__init__(name=name)
        self.w = width

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


@tg.register_node
class Nameless(tg.Node):
    """Takes no name: the file could not wire it."""

    def __init__(self, k=2):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


@tg.register_node
class KernelLike(tg.Node):
    """An unrelated node that happens to have a ``kernel_size`` attribute (an int)."""

    def __init__(self, kernel_size=3, *, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self.kernel_size = kernel_size

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


def _model(node):
    return tg.Sequential([tg.Dense(3, 4), node, tg.Dense(4, 2), tg.Softmax(), tg.CrossEntropy()],
                         random_state=0)


def test_constructor_arguments_are_saved_without_get_config(tmp_path):
    model = _model(ArgTanh(2.0, b=0.5, name="st"))
    assert model.nodes[2].get_config() == {"a": 2.0, "b": 0.5, "name": "st", "trainable": True}
    back = tg.load(tg.save(model, tmp_path / "m.npz"))
    node = back.nodes[2]
    assert (type(node), node.a, node.b, node.name) == (ArgTanh, 2.0, 0.5, "st")
    X = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_an_argument_kept_under_another_name_is_refused_at_save_with_the_fix(tmp_path):
    model = _model(Renamed(4))
    with pytest.raises(TypeError, match=r"Renamed.*'width'.*self\.width = width.*get_config"):
        tg.save(model, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_node_that_takes_no_name_is_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match=r"Nameless.*no 'name'.*super\(\).__init__\(name=name\)"):
        tg.save(_model(Nameless()), tmp_path / "m.npz")


def test_a_kernel_size_attribute_does_not_make_a_node_a_convolution():
    model = _model(KernelLike(5))
    assert model.nodes[2].geometry() is None
    table = summary(model)
    assert "KernelLike" in table
    assert "KernelLike" in tg.to_graphviz(model).source


def test_conv_and_pool_describe_their_own_geometry():
    conv, pool = tg.Conv2D(20, 5, padding=(0, 1)), tg.MaxPool2D(2)
    assert conv.geometry() == "20@5×5, stride 1, padding 0×1"
    assert pool.geometry() == "2×2 windows, stride 2"
    model = tg.Sequential([conv, tg.ReLU(), pool, tg.Flatten(), tg.Dense(10), tg.Softmax(), tg.CrossEntropy()],
                          input_shape=(1, 12, 12), random_state=0)
    source = tg.to_graphviz(model).source
    assert conv.geometry() in source and pool.geometry() in source
