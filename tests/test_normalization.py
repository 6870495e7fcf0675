"""BatchNorm and LayerNorm: gradients and R-operators in both modes, saturation, PyTorch's numbers
(outputs, every gradient, running statistics after several steps)."""
import numpy as np
import pytest

import tinygraph as tg

SHAPES = [(5,), (3, 4), (3, 4, 5)]


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("cls", [lambda: tg.BatchNorm(axis=1), lambda: tg.BatchNorm(axis=-1), tg.LayerNorm,
                                 lambda: tg.LayerNorm(axis=None)],
                         ids=["BatchNorm", "BatchNorm-last", "LayerNorm", "LayerNorm-all"])
def test_gradients_and_r_operators(cls, shape, training):
    errors = tg.check_node_gradients(cls(), shape, n=5, training=training)
    assert set(errors) == {"x0", "gamma", "beta"}
    assert max(errors.values()) < 1e-6, errors
    r = tg.check_node_r_operators(cls(), shape, n=5, training=training)
    assert r.pop("gauss_newton") < 1e-12
    assert max(r.values()) < 1e-7, r


def test_batchnorm_input_gradient_is_not_trivially_zero():
    """With an all-ones upstream gradient BatchNorm's dx vanishes; the random one must not."""
    node = tg.BatchNorm()
    tg.check_node_gradients(node, (4,), n=6)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    node.forward(x)
    assert np.abs(node.backward(np.ones((6, 4)))).max() < 1e-12
    assert np.abs(node.backward(rng.standard_normal((6, 4)))).max() > 1e-2


def test_batch_of_one_in_training_mode_is_refused():
    node = tg.BatchNorm()
    tg.check_node_gradients(node, (3,), n=4)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        node.forward(np.ones((1, 3)))


@pytest.mark.parametrize("cls", [lambda: tg.BatchNorm(axis=1), lambda: tg.BatchNorm(axis=-1), tg.LayerNorm,
                                 lambda: tg.LayerNorm(axis=None)])
def test_saturation(cls):
    node = cls()
    tg.check_node_gradients(node, (3, 4), n=4)
    x = np.full((4, 3, 4), 1000.0)
    x[::2] = -1000.0
    with np.errstate(all="raise"):
        for training in (True, False):
            node.training = training
            y = node.forward(x)
            dx = node.backward(np.random.default_rng(1).standard_normal(x.shape))
            assert np.isfinite(y).all() and np.isfinite(dx).all()
        node.training = True
        node.forward(np.zeros((4, 3, 4)))  # a constant batch: σ² = 0, eps keeps s finite
        assert np.isfinite(node.backward(np.ones((4, 3, 4)))).all()


@pytest.mark.parametrize("bad", [{"momentum": 0}, {"momentum": 1.5}, {"eps": -1.0}, {"momentum": True}])
def test_bad_arguments_are_named(bad):
    with pytest.raises(ValueError, match="BatchNorm"):
        tg.BatchNorm(**bad)


def _torch_bn(torch, shape):
    return torch.nn.BatchNorm1d(shape[0], dtype=torch.float64) if len(shape) < 3 else \
        torch.nn.BatchNorm2d(shape[0], dtype=torch.float64)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batchnorm_equals_pytorch(shape):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of the layer-equality tests")
    rng = np.random.default_rng(0)
    node = tg.BatchNorm(axis=1)
    theta, grad = np.empty(0), np.empty(0)
    tg.check_node_gradients(node, shape, n=4)  # builds and binds it
    theta = 1 + 0.3 * rng.standard_normal(node.size)
    grad = np.zeros(node.size)
    state = np.zeros(node.state_size)
    node.bind(theta, grad)
    node.bind_state(state)
    node.reset_state()
    ref = _torch_bn(torch, shape)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(node.gamma))
        ref.bias.copy_(torch.from_numpy(node.beta))
    for step in range(4):  # training steps: outputs, gradients and the running statistics
        x = 2 + 3 * rng.standard_normal((6,) + shape)
        dy = rng.standard_normal(x.shape)
        node.training = True
        y = node.forward(x).copy()
        dx = node.backward(dy).copy()
        node.update_state()
        xt = torch.from_numpy(x).requires_grad_()
        ref.train()
        ref.zero_grad()
        yt = ref(xt)
        yt.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(node.dgamma, ref.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(node.dbeta, ref.bias.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(node.running_mean, ref.running_mean.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(node.running_var, ref.running_var.numpy(), rtol=1e-12, atol=1e-12)
    node.training = False  # evaluation: the running statistics
    ref.eval()
    x = rng.standard_normal((3,) + shape)
    dy = rng.standard_normal(x.shape)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(node.forward(x), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(node.backward(dy), xt.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("axis", [-1, None])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_layernorm_equals_pytorch(shape, axis):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of the layer-equality tests")
    rng = np.random.default_rng(1)
    node = tg.LayerNorm(axis=axis)
    tg.check_node_gradients(node, shape, n=4)
    theta, grad = 1 + 0.3 * rng.standard_normal(node.size), np.zeros(node.size)
    node.bind(theta, grad)
    ref = torch.nn.LayerNorm(shape if axis is None else shape[-1:], dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(node.gamma))
        ref.bias.copy_(torch.from_numpy(node.beta))
    x = 5 * rng.standard_normal((4,) + shape)
    dy = rng.standard_normal(x.shape)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(node.forward(x), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(node.backward(dy), xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(node.dgamma, ref.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(node.dbeta, ref.bias.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_batchnorm_on_a_sequence_names_the_axis():
    with pytest.raises(ValueError, match="axis=-1 to normalise each of the 8 features"):
        tg.Sequential([tg.BatchNorm()], input_shape=(5, 8))
    with pytest.raises(ValueError, match="axis must be None, 1 or -1"):
        tg.BatchNorm(axis=2)
    with pytest.raises(ValueError, match="axis must be -1"):
        tg.LayerNorm(axis=1)


def test_batchnorm_last_axis_equals_pytorch_on_the_transposed_sequence():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of the layer-equality tests")
    rng = np.random.default_rng(2)
    model = tg.Sequential([tg.BatchNorm(axis=-1)], input_shape=(5, 3), random_state=0)
    node = model.nodes[1]
    node.gamma[...] = rng.standard_normal(3)
    node.set_graph_attributes(need_dx=True)
    ref = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(node.gamma))
    x = 2 + rng.standard_normal((4, 5, 3))
    dy = rng.standard_normal(x.shape)
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt.transpose(1, 2)).transpose(1, 2)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(model.forward(x, training=True), yt.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(node.backward(dy), xt.grad.numpy(), atol=1e-10)
    model.update_state()
    np.testing.assert_allclose(node.running_var, ref.running_var.numpy(), atol=1e-12)


def test_files_saved_before_axis_load_with_their_behaviour(tmp_path):
    """A LayerNorm on (N, T, F) saved before ``axis`` existed normalised over T·F: it still does."""
    import json
    import zipfile

    model = tg.Sequential([tg.LayerNorm(axis=None), tg.Flatten(), tg.MeanSquaredError()], input_shape=(3, 4),
                          random_state=0)
    path = tg.save(model, tmp_path / "new.npz")
    old, popped = tmp_path / "old.npz", []
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "header.npy":
                arr = np.load(__import__("io").BytesIO(data))
                header = json.loads(arr.tobytes().decode())
                for spec in header["model"]["nodes"]:
                    popped.append(spec["config"].pop("axis", "absent"))  # as written before axis existed
                buf = __import__("io").BytesIO()
                np.save(buf, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
                data = buf.getvalue()
            dst.writestr(item, data)
    assert None in popped  # the LayerNorm's axis really was removed from the file
    back = tg.load(old)
    assert back.nodes[1].axis is None and back.nodes[1].gamma.shape == (3, 4)
    X = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_array_equal(back.forward(X), model.forward(X))
