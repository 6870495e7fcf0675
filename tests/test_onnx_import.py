"""tg.from_onnx: what torch.onnx.export writes comes back with PyTorch's outputs (float32, 1e-5) and
PyTorch's gradients (float64); tinygraph -> ONNX -> tinygraph gives back theta and state bit for bit."""
import warnings

import numpy as np
import pytest

import tinygraph as tg
from models import digit_net, lenet_net, normalized_mlp, sequence_classifier

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
torch = pytest.importorskip("torch", reason="PyTorch (the oracle) is not installed")
pytest.importorskip("onnxscript", reason="torch.onnx.export (dynamo) needs onnxscript")
nn = torch.nn


@pytest.fixture(autouse=True)
def one_blas_thread():
    with tg.blas_threads(1):
        yield


@pytest.fixture(scope="module", autouse=True)
def float32_torch():
    """PyTorch's own default dtype, whatever an earlier test left set."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(before)


class Recurrent(nn.Module):
    """x (N, T, F) -> cell (stacked num_layers deep) -> last step -> Linear: the usual PyTorch sequence
    classifier."""

    def __init__(self, cell, num_layers=1):
        super().__init__()
        self.rnn, self.fc = cell(5, 6, num_layers=num_layers, batch_first=True), nn.Linear(6, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


class Branches(nn.Module):
    """Conv -> global average pool -> view -> two branches, added and concatenated: the other ops."""

    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(2, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1)
        self.a, self.b, self.out = nn.Linear(4, 6), nn.Linear(4, 6), nn.Linear(12, 3)
        self.leaky, self.elu, self.softplus = nn.LeakyReLU(0.2), nn.ELU(), nn.Softplus()

    def forward(self, x):
        h = self.pool(self.leaky(self.conv(x)))
        h = h.view(h.size(0), -1)
        u = self.elu(self.a(h)) + self.softplus(self.b(h))
        return torch.softmax(self.out(torch.cat([u, torch.sigmoid(self.a(h))], dim=1)), dim=1)


def torch_models():
    torch.manual_seed(0)
    lenet = nn.Sequential(nn.Conv2d(1, 4, 5), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 2 * 2, 16), nn.ReLU(), nn.Linear(16, 10))
    # BatchNorm in eval mode is folded into the layer before it by the exporter (in float32)
    mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 8),
                        nn.Tanh(), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 3))
    models = {"mlp": (mlp, torch.randn(4, 8)), "lenet": (lenet, torch.randn(3, 1, 14, 14)),
              "lstm": (Recurrent(nn.LSTM, num_layers=2), torch.randn(4, 7, 5)),
              "branches": (Branches(), torch.randn(3, 2, 6, 6))}
    for m, _ in models.values():  # running statistics that are not the initial 0 and 1
        for bn in [b for b in m.modules() if isinstance(b, nn.modules.batchnorm._BatchNorm)]:
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)
        m.eval()
    return models


def export(module, x, path, dynamo=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dims = {0: torch.export.Dim("batch")} if dynamo else None
        kw = {"dynamic_shapes": (dims,)} if dynamo else {"dynamic_axes": {"x": {0: "N"}}}
        torch.onnx.export(module, (x,), str(path), input_names=["x"], dynamo=dynamo, verbose=False, **kw)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each PyTorch model, exported as torch.onnx.export does by default (weights in a file beside it)."""
    d = tmp_path_factory.mktemp("torch")
    return {name: (m, x, export(m, x, d / f"{name}.onnx")) for name, (m, x) in torch_models().items()}


def relative_error(got, want):
    return np.abs(np.asarray(got, np.float64) - want).max() / np.abs(want).max()


@pytest.mark.parametrize("name", ["mlp", "lenet", "lstm", "branches"])
def test_torch_exports_give_pytorchs_outputs(exported, name):
    module, x, path = exported[name]
    model = tg.from_onnx(path)
    assert model.dtype == np.float32
    with torch.no_grad():
        want = module(x).numpy()
    assert relative_error(model.forward(x.numpy()), want) <= 1e-5
    X = torch.randn(9, *x.shape[1:])
    with torch.no_grad():  # another batch size: the batch axis stayed symbolic
        assert relative_error(model.forward(X.numpy()), module(X).numpy()) <= 1e-5


def test_what_the_imports_are(exported):
    kinds = {name: [type(n).__name__ for n in tg.from_onnx(p).nodes] for name, (_, _, p) in exported.items()}
    assert kinds["lstm"] == ["Input", "LSTM", "LSTM", "Dense"]  # out[:, -1]: the last state, no copy
    assert kinds["lenet"][:2] == ["Input", "Conv2D"] and "MaxPool2D" in kinds["lenet"]
    assert kinds["branches"] == ["Input", "Conv2D", "LeakyReLU", "GlobalAvgPool2D", "Dense", "ELU", "Dense",
                                 "Softplus", "Add", "Sigmoid", "Concat", "Dense", "Softmax"]  # a(h) once


@pytest.mark.parametrize("name", ["mlp", "lstm"])
def test_gradients_are_pytorchs(exported, name):
    """Imported in float64 with a cross-entropy loss: loss_and_grad equals PyTorch's backward."""
    module, _, path = exported[name]
    model = tg.from_onnx(path, loss="cross-entropy", dtype=np.float64)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, *model.input.shape))
    y = np.arange(6) % 3
    loss, grad = model.loss_and_grad(model.theta, X, y)
    double = module.double()
    double.zero_grad()
    t_loss = nn.functional.cross_entropy(double(torch.from_numpy(X)), torch.from_numpy(y))
    t_loss.backward()
    last_W = (module[-1] if name == "mlp" else module.fc).weight.grad.numpy().T.copy()
    W_hh = module.rnn.weight_hh_l0.grad.numpy().copy() if name == "lstm" else None
    module.float()  # (its gradients too: read above)
    assert abs(loss - t_loss.item()) < 1e-12 * abs(loss)
    last = [n for n in model.nodes if isinstance(n, tg.Dense)][-1]
    np.testing.assert_allclose(last.views(grad)["W"], last_W, rtol=1e-10, atol=1e-14)
    if name == "lstm":
        np.testing.assert_allclose(model.nodes[1].views(grad)["W_hh"], W_hh, rtol=1e-9, atol=1e-14)
    assert model.gnvp(model.theta, grad, X, y).shape == grad.shape
    assert "digraph" in model.to_graphviz().source


def test_fine_tuning_an_import(exported):
    model = tg.from_onnx(exported["lenet"][2], loss="cross-entropy")
    X, y = tg.datasets.load_mnist(dtype=np.float32)
    X = X.reshape(-1, 1, 28, 28)[:200, :, ::2, ::2]  # 14×14, the size the PyTorch net was built for
    before = model.loss_value(model.theta, X, y[:200])
    tg.fit(model, X, y[:200], maxiter=30)
    assert model.loss_value(model.theta, X, y[:200]) < 0.7 * before


@pytest.mark.parametrize("cell", ["RNN", "GRU", "Embedding"])
def test_the_torchscript_exporter(tmp_path, cell):
    """torch.onnx.export(dynamo=False), quick to run: ONNX's RNN and GRU ops (the dynamo exporter
    unrolls nn.RNN into per-step ops, which are refused by name), and an embedding's Gather."""
    torch.manual_seed(0)
    if cell == "Embedding":
        module = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2), nn.Softmax(dim=1))
        x, kinds = torch.randint(0, 10, (4, 3)), ["Input", "Embedding", "Flatten", "Dense", "Softmax"]
    else:
        module, x = Recurrent(getattr(nn, cell)), torch.randn(4, 7, 5)
        kinds = ["Input", "SimpleRNN" if cell == "RNN" else cell, "Dense"]
    model = tg.from_onnx(export(module.eval(), x, tmp_path / "m.onnx", dynamo=False))
    assert [type(n).__name__ for n in model.nodes] == kinds
    with torch.no_grad():
        assert relative_error(model.forward(x.numpy()), module(x).numpy()) <= 1e-5


def round_trip_models(dtype):
    a, b = tg.Input(4, name="a"), tg.Input((6, 3), name="b")
    s = tg.GRU(4)(tg.LSTM(5, return_sequences=True)(tg.Dense(3)(b)))
    two = tg.Graph([a, b], tg.MeanSquaredError()(tg.Dense(2)(tg.Add()(tg.Dense(4)(a), s))), dtype=dtype,
                   random_state=0)
    return {
        "course": digit_net(64, dtype=dtype, random_state=0),
        "lenet": lenet_net(channels=(3, 4), hidden=8, dtype=dtype, random_state=0),
        "normalized": normalized_mlp((8, 6), n_features=10, dropout=0.1, dtype=dtype, random_state=0),
        "recurrent": sequence_classifier((5, 3), 4, cell="lstm", units=4, dtype=dtype, random_state=0),
        "rnn": sequence_classifier((5, 3), 4, cell="rnn", units=4, dtype=dtype, random_state=0),
        "two inputs": two,
        "layers": tg.Sequential([tg.Conv2D(3, 3, padding="same"), tg.BatchNorm(), tg.ELU(0.5), tg.AvgPool2D(2),
                                 tg.Conv2D(2, 2, stride=2, padding=1), tg.GELU("tanh"), tg.GlobalAvgPool2D(),
                                 tg.LayerNorm(), tg.Dense(6), tg.LeakyReLU(), tg.Slice(1, 5), tg.Softplus(),
                                 tg.Reshape((2, 2)), tg.Flatten(), tg.Identity(),
                                 tg.LogSoftmax()], input_shape=(2, 6, 6), dtype=dtype, random_state=0),
        "positional": tg.Sequential([tg.Embedding(10, 4), tg.PositionalEmbedding(5), tg.LayerNorm(), tg.Dense(4),
                                     tg.Softmax(), tg.CrossEntropy()], input_shape=(5,), dtype=dtype, random_state=0),
        "embedding": tg.Sequential([tg.Embedding(10, 4), tg.SimpleRNN(3, "relu", return_sequences=True),
                                    tg.Dense(2), tg.Flatten(), tg.Dense(1), tg.Sigmoid(), tg.CrossEntropy()],
                                   input_shape=(5,), dtype=dtype,
                                   random_state=0),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_for_bit(tmp_path, dtype):
    for name, model in round_trip_models(dtype).items():
        model.state[...] = np.random.default_rng(0).uniform(0.5, 1.5, model.state.size)
        path = tmp_path / "model.onnx"
        model.to_onnx(path)
        again = tg.from_onnx(path, loss=None if model.loss is None else type(model.loss)())
        assert again.dtype == dtype, name
        assert again.theta.tobytes() == model.theta.tobytes(), name
        assert again.state.tobytes() == model.state.tobytes(), name
        assert [n.shape for n in again.inputs] == [n.shape for n in model.inputs], name
        X = tuple(np.random.default_rng(1).integers(0, 4, (3, *x.shape)).astype(dtype) for x in model.inputs)
        X = X if len(X) > 1 else X[0]
        np.testing.assert_array_equal(again.forward(X), model.forward(X), err_msg=name)
