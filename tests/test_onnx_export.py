"""tg.to_onnx: every node family and the models of models/ run in onnxruntime (float32, 1e-5) and in
onnx.reference (float64, 1e-10) to the numbers of model.forward, relative to the output's scale; the
batch (and time) axes stay symbolic."""
import inspect

import numpy as np
import pytest

import tinygraph as tg
from models import digit_net, lenet_net, normalized_mlp, sequence_classifier

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
from onnx.reference import ReferenceEvaluator


@pytest.fixture(autouse=True)
def one_blas_thread():
    with tg.blas_threads(1):
        yield


def run_ort(proto, feed):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0]


def run_reference(proto, feed):
    return ReferenceEvaluator(proto).run(None, feed)[0]


def feed_of(model, X, proto):
    arrays = X if isinstance(X, tuple) else (X,)
    feed = {}
    for vi, a in zip(proto.graph.input, arrays):
        int_input = vi.type.tensor_type.elem_type == onnx.TensorProto.INT64
        feed[vi.name] = a.astype(np.int64) if int_input else a.astype(model.dtype)
    return feed


def assert_close(got, want, rtol):
    """Relative to the output's scale: max |got - want| <= rtol · max |want| (an entry near 0 carries
    the rounding of the larger entries it was computed from)."""
    err = np.abs(got.astype(np.float64) - want).max() / np.abs(want).max()
    assert err <= rtol, f"relative error {err:.3g} > {rtol}"


def check_both(build, X, rtol32=1e-5):
    """float32 model vs onnxruntime, float64 model vs the reference evaluator."""
    for dtype, run, rtol in ((np.float32, run_ort, rtol32), (np.float64, run_reference, 1e-10)):
        model = build(dtype)
        rng = np.random.default_rng(1)
        model.state[...] = rng.uniform(0.5, 1.5, model.state.size)  # running statistics that matter
        proto = tg.to_onnx(model)
        onnx.checker.check_model(proto, full_check=True)
        Xd = tuple(a.astype(dtype) for a in X) if isinstance(X, tuple) else X.astype(dtype)
        got = run(proto, feed_of(model, Xd, proto))
        want = model.forward(Xd)
        assert got.dtype == dtype and got.shape == want.shape
        assert_close(got, want, rtol)


def seq(layers, input_shape, **kw):
    return lambda dtype: tg.Sequential(layers(), input_shape=input_shape, dtype=dtype, random_state=0, **kw)


rng = np.random.default_rng(0)
FAMILIES = {
    "activations": (seq(lambda: [tg.Dense(6), tg.Sigmoid(), tg.Dense(6), tg.Tanh(), tg.Dense(6), tg.ReLU(),
                                 tg.Dense(6), tg.LeakyReLU(0.1), tg.Dense(6), tg.ELU(0.7), tg.Identity(),
                                 tg.Dense(6), tg.Softplus(beta=2.0, threshold=3.0), tg.Dense(6), tg.Softplus(),
                                 tg.Dense(6), tg.LeakyReLU(),
                                 tg.Dense(3), tg.LogSoftmax()], 4),
                    rng.standard_normal((5, 4)) * 2),
    "softmax": (seq(lambda: [tg.Dense(3), tg.Softmax(), tg.CrossEntropy()], 4), rng.standard_normal((5, 4))),
    "dense-on-sequences": (seq(lambda: [tg.Dense(3), tg.Tanh(), tg.Dense(2)], (6, 4)),
                           rng.standard_normal((3, 6, 4))),
    "conv-pool-norm": (seq(lambda: [tg.Conv2D(3, 3, padding="same"), tg.BatchNorm(), tg.ReLU(), tg.MaxPool2D(2),
                                    tg.Conv2D(4, 3, stride=2, padding=1), tg.AvgPool2D(2, stride=1),
                                    tg.Dropout(0.3), tg.Flatten(), tg.Dense(6), tg.LayerNorm(), tg.Dense(3)],
                           (2, 8, 8)), rng.standard_normal((3, 2, 8, 8))),
    "global-pool-reshape": (seq(lambda: [tg.Conv2D(4, 2), tg.GlobalAvgPool2D(), tg.Reshape((2, 2, 1)),
                                         tg.BatchNorm(), tg.Flatten(), tg.LayerNorm(), tg.Dropout(0.5)],
                                (1, 5, 5)), rng.standard_normal((3, 1, 5, 5))),
    "embedding": (seq(lambda: [tg.Embedding(10, 4), tg.LSTM(3, return_sequences=True), tg.Dense(2)], (5,)),
                  rng.integers(0, 10, (3, 5)).astype(float)),
    "simple-rnn": (seq(lambda: [tg.SimpleRNN(4, return_sequences=True), tg.SimpleRNN(3)], (6, 2)),
                   rng.standard_normal((3, 6, 2))),
    "lstm": (seq(lambda: [tg.LSTM(4, return_sequences=True), tg.LSTM(3)], (6, 2)), rng.standard_normal((3, 6, 2))),
    "gru": (seq(lambda: [tg.GRU(4, return_sequences=True), tg.GRU(3)], (6, 2)), rng.standard_normal((3, 6, 2))),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_node_families(family):
    build, X = FAMILIES[family]
    check_both(build, X)


def test_relu_rnn():
    """onnx.reference's RNN knows only tanh: the relu cell is checked in onnxruntime (float32)."""
    model = seq(lambda: [tg.SimpleRNN(4, "relu", return_sequences=True), tg.SimpleRNN(3, "relu")], (6, 2))(np.float32)
    X = rng.standard_normal((3, 6, 2)).astype(np.float32)
    assert_close(run_ort(tg.to_onnx(model), {"input": X}), model.forward(X), 1e-5)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate):
    """Gelu is an opset-20 op, which onnx.reference expands with float32 constants; float64 is checked
    on the formula opsets before 20 get: every digit for tanh, and to float32 precision for the erf
    form (onnx.reference computes Erf in float32)."""
    X = rng.standard_normal((5, 4)) * 2
    build = seq(lambda: [tg.Dense(6), tg.GELU(approximate), tg.Dense(3)], 4)
    model32 = build(np.float32)
    got = run_ort(tg.to_onnx(model32), {"input": X.astype(np.float32)})
    assert_close(got, model32.forward(X.astype(np.float32)), 1e-5)
    model = build(np.float64)
    proto = tg.to_onnx(model, opset=17)
    assert "Gelu" not in [n.op_type for n in proto.graph.node]
    assert_close(run_reference(proto, {"input": X}), model.forward(X), 1e-10 if approximate == "tanh" else 1e-6)


def takes_axis(cls):
    return "axis" in inspect.signature(cls.__init__).parameters


@pytest.mark.skipif(not takes_axis(tg.LayerNorm), reason="LayerNorm/BatchNorm/Softmax have no axis option here")
def test_axis_options():
    """LayerNorm and BatchNorm over the last axis of sequences, Softmax over a middle axis."""
    check_both(seq(lambda: [tg.Dense(4), tg.LayerNorm(axis=-1), tg.BatchNorm(axis=-1), tg.LayerNorm(axis=None),
                            tg.Softmax(axis=1), tg.LogSoftmax(axis=-1)], (5, 3)), rng.standard_normal((3, 5, 3)))
    model = seq(lambda: [tg.LayerNorm(axis=-1), tg.BatchNorm(axis=1), tg.Softmax(axis=1)], (5, 3))(np.float64)
    again = tg.from_onnx(tg.to_onnx(model))
    assert [getattr(n, "axis", None) for n in again.nodes[1:]] == [-1, 1, 1]
    assert again.theta.tobytes() == model.theta.tobytes()


def two_inputs(dtype):
    a, b = tg.Input(4, name="a"), tg.Input(3, name="b")
    h = tg.Concat()(tg.Dense(5)(a), tg.Tanh()(tg.Dense(2)(b)))
    s = tg.Add()(tg.Slice(1, 4)(h), tg.Slice(0, 3)(h), tg.Slice(-3, 7)(h))
    return tg.Graph([a, b], tg.MeanSquaredError()(tg.Dense(2)(s)), dtype=dtype, random_state=0)


def test_several_inputs_add_concat_slice():
    X = (rng.standard_normal((4, 4)), rng.standard_normal((4, 3)))
    check_both(two_inputs, X)
    proto = tg.to_onnx(two_inputs(np.float64))
    assert [i.name for i in proto.graph.input] == ["a", "b"]


MODELS = {
    "course net": (lambda dtype: digit_net(64, dtype=dtype, random_state=0), rng.random((6, 64))),
    "lenet": (lambda dtype: lenet_net(channels=(4, 6), hidden=20, dtype=dtype, random_state=0),
              rng.random((3, 1, 28, 28))),
    "normalized mlp": (lambda dtype: normalized_mlp((16, 8), n_features=20, dropout=0.2, dtype=dtype,
                                                    random_state=0), rng.random((5, 20))),
    "lstm classifier": (lambda dtype: sequence_classifier((7, 5), 3, cell="lstm", units=6, dtype=dtype,
                                                          random_state=0), rng.standard_normal((4, 7, 5))),
    "gru classifier": (lambda dtype: sequence_classifier((7, 5), 3, cell="gru", units=6, dtype=dtype,
                                                         random_state=0), rng.standard_normal((4, 7, 5))),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models(name):
    build, X = MODELS[name]
    check_both(build, X)


def test_batch_and_time_axes_stay_symbolic():
    model = sequence_classifier((7, 5), 3, cell="gru", units=6, dtype=np.float32, random_state=0)
    proto = tg.to_onnx(model)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", "T", 5]
    for n, T in ((1, 7), (9, 3)):  # another length: the same weights over fewer steps
        X = rng.standard_normal((n, T, 5)).astype(np.float32)
        short = sequence_classifier((T, 5), 3, cell="gru", units=6, dtype=np.float32, random_state=0)
        assert_close(run_ort(proto, {"input": X}), short.forward(X), 1e-5)
    lenet = tg.to_onnx(lenet_net(channels=(2, 2), hidden=4, random_state=0))
    assert [d.dim_param or d.dim_value for d in lenet.graph.input[0].type.tensor_type.shape.dim] == ["N", 1, 28, 28]


def test_bundled_digits_classes_agree():
    """The course net trained on 2,000 bundled MNIST digits: onnxruntime's classes of all 10,000 are ours."""
    X, y = tg.datasets.load_mnist(dtype=np.float32)
    model = digit_net(784, dtype=np.float32, random_state=0)
    tg.fit(model, X[:2000], y[:2000], maxiter=40)
    got = run_ort(tg.to_onnx(model), {"input": X}).argmax(axis=1)
    assert (got == model.predict(X)).all()
    assert (got == y).mean() > 0.8  # a trained model, so the agreement means something


def test_written_file_and_options(tmp_path):
    model = digit_net(8, hidden=4, n_classes=3, random_state=0)
    path = tmp_path / "net.onnx"
    proto = model.to_onnx(path, opset=17, dtype=np.float32)
    again = onnx.load(str(path))
    assert again.SerializeToString() == proto.SerializeToString()
    assert again.opset_import[0].version == 17 and [p.name for p in tmp_path.iterdir()] == ["net.onnx"]
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Sigmoid", "Gemm", "Sigmoid"]
    assert proto.graph.output[0].name == "output"
    gelu = tg.Sequential([tg.Dense(3), tg.GELU()], input_shape=2, random_state=0)
    assert "Erf" in [n.op_type for n in tg.to_onnx(gelu, opset=17).graph.node]  # no Gelu op before 20
    with pytest.raises(ValueError, match=r"opset must lie in \[17, "):
        tg.to_onnx(model, opset=12)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        tg.to_onnx(model, dtype=np.int32)


class Cube(tg.Node):
    """y = x³ (a user's own node)."""

    def forward(self, x):
        return x ** 3


def test_own_node_refused_by_name_then_exported_by_its_hook():
    model = tg.Sequential([tg.Dense(3), Cube(name="cube")], input_shape=2, random_state=0)
    with pytest.raises(TypeError, match=r"node 'cube' \(Cube\) has no ONNX mapping; .*to_onnx\(self, ctx, inputs\)"):
        tg.to_onnx(model)

    class ExportableCube(Cube):
        def to_onnx(self, ctx, inputs):
            return ctx.op("Pow", [inputs[0], ctx.constant(f"{self.name}.three", np.array(3.0, ctx.dtype))])

    model = tg.Sequential([tg.Dense(3), ExportableCube()], input_shape=2, random_state=0)
    X = rng.standard_normal((4, 2))
    np.testing.assert_allclose(run_reference(tg.to_onnx(model), {"input": X}), model.forward(X), rtol=1e-10)


@pytest.mark.parametrize("variant", ["gpt", "encoder"])
def test_attention(variant):
    """The transformer nodes as a decomposition: a small GPT (causal, positional embedding), and a
    bias-free encoder layer reading a key mask as a second input (rows with no key give 0)."""
    if variant == "gpt":
        from models.gpt import gpt
        check_both(lambda dtype: gpt(11, n_layer=2, n_head=2, n_embd=8, block_size=6, dtype=dtype, random_state=0),
                   rng.integers(0, 11, (3, 6)).astype(float))
        return

    def build(dtype):
        x, keys = tg.Input((5, 4), name="x"), tg.Input(5, name="keys")
        h = tg.MultiHeadAttention(2, bias=False)(tg.LayerNorm()(x), keys)
        return tg.Graph([x, keys], tg.Dense(3)(tg.Add()(x, h)), dtype=dtype, random_state=0)

    keys = (rng.random((4, 5)) > 0.4).astype(float)
    keys[0] = 0.0  # a row that may attend to nothing
    check_both(build, (rng.standard_normal((4, 5, 4)), keys))
