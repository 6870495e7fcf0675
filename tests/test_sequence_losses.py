"""Per-step targets: Softmax/LogSoftmax on (N, T, K), every loss on (N, T, K) with (N, T) labels or
(N, T, K) values, the mean over all N·T positions, (N, T) sample weights as masks; gradients and
R-operators against central differences, values and gradients against PyTorch (float64)."""
import numpy as np
import pytest
from tinygraph.gradcheck import check_node_gradients, check_node_r_operators, relative_error

import tinygraph as tg

EPS = 1e-5
N, T, K = 3, 5, 4


def loss_node(kind):
    node = {"categorical": tg.CrossEntropy, "probabilities": tg.CrossEntropy, "binary": tg.CrossEntropy,
            "mse": tg.MeanSquaredError, "huber": lambda: tg.Huber(delta=0.7), "hinge": tg.Hinge}[kind]()
    if kind in ("categorical", "probabilities"):
        node.fuse(tg.Softmax())
    elif kind == "binary":
        node.fuse(tg.Sigmoid())
    node.name = kind
    node.in_shapes = ((T, K),)
    node.out_shape = node.build((T, K))
    node.dtype = np.dtype(np.float64)
    return node


def target(kind, rng):
    if kind in ("categorical", "hinge"):
        return rng.integers(0, K, (N, T))
    if kind == "probabilities":
        return rng.dirichlet(np.ones(K), (N, T))
    if kind == "binary":
        return (rng.random((N, T, K)) > 0.5).astype(float)
    return rng.standard_normal((N, T, K))


KINDS = ["categorical", "probabilities", "binary", "mse", "huber", "hinge"]


@pytest.mark.parametrize("weighted", [None, "mask", "rows"])
@pytest.mark.parametrize("kind", KINDS)
def test_per_step_loss_gradient_and_r_operators(kind, weighted):
    """dL/dz, R{L} and H_L R{z} of (N, T, K) inputs against central differences of the loss and of
    backward(), with no weight, an (N, T) mask with zeros, and (N,) weights spread over each row's steps."""
    rng = np.random.default_rng(KINDS.index(kind))
    node = loss_node(kind)
    t = node.check_target(target(kind, rng), N)
    w = {None: None, "mask": (rng.random((N, T)) > 0.3) * (rng.random((N, T)) + 0.5),
         "rows": rng.random(N) + 0.5}[weighted]
    z, rz = 2 * rng.standard_normal((N, T, K)), rng.standard_normal((N, T, K))

    def run(r):
        loss = node.forward(z + r * rz, t, w)
        return loss, node.backward().copy()

    (lp, gp), (lm, gm) = run(EPS), run(-EPS)
    _, g = run(0.0)
    assert g.shape == z.shape
    numeric = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        d = np.zeros_like(z)
        d[i] = EPS
        numeric[i] = (node.forward(z + d, t, w) - node.forward(z - d, t, w)) / (2 * EPS)
    node.forward(z, t, w)
    assert relative_error(node.backward(), numeric) < 1e-7
    rl = node.rforward(np.zeros(0), rz)
    rdz = node.rbackward()
    assert abs(rl - (lp - lm) / (2 * EPS)) < 1e-8 * max(1.0, abs(rl))
    if kind == "hinge":  # piecewise linear: H_L = 0, and backward() is flat away from the kinks
        assert not rdz.any() and np.array_equal(gp, gm)
    else:
        assert relative_error(rdz, (gp - gm) / (2 * EPS)) < 1e-7


@pytest.mark.parametrize("kind", KINDS)
def test_the_mean_is_over_all_positions(kind):
    """The (N, T, K) loss equals the (N·T, K) loss of the same positions: rows and steps are one list,
    and an (N, T) weight equals that weight on the flattened rows; masked steps count for nothing."""
    rng = np.random.default_rng(7)
    node, flat = loss_node(kind), loss_node(kind)
    flat.in_shapes = ((K,),)
    t = node.check_target(target(kind, rng), N)
    z = rng.standard_normal((N, T, K))
    w = (rng.random((N, T)) > 0.4) * 1.0
    w[0, 0] = 1.0
    ft = t.reshape(N * T, *t.shape[2:])
    assert node.forward(z, t) == pytest.approx(flat.forward(z.reshape(N * T, K), ft), rel=1e-13)
    assert node.forward(z, t, w) == pytest.approx(flat.forward(z.reshape(N * T, K), ft, w.ravel()), rel=1e-13)
    g = node.backward()
    assert not g[w == 0].any()
    z2 = z.copy()
    z2[w == 0] += 100.0 * rng.standard_normal(z2[w == 0].shape)
    assert node.forward(z2, t, w) == pytest.approx(node.forward(z, t, w), rel=1e-13)


def test_cross_entropy_equals_torch_on_flattened_positions():
    """nanoGPT's loss: F.cross_entropy(logits.view(-1, K), y.view(-1)), and its masked form."""
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of this test")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    model = tg.Sequential([tg.Dense(K), tg.Softmax(), tg.CrossEntropy()], input_shape=(T, 6), random_state=0)
    X, y = rng.standard_normal((N, T, 6)), rng.integers(0, K, (N, T))
    dense = model.layers[0]
    W, b = torch.tensor(dense.W.copy(), requires_grad=True), torch.tensor(dense.b.copy(), requires_grad=True)
    expected = F.cross_entropy((torch.tensor(X) @ W + b).view(-1, K), torch.tensor(y).view(-1))
    expected.backward()
    loss, grad = model.loss_and_grad(model.theta, X, y)
    assert loss == pytest.approx(expected.item(), rel=1e-13)
    np.testing.assert_allclose(grad, np.concatenate([W.grad.numpy().ravel(), b.grad.numpy()]), rtol=1e-10)
    # a mask: Σ w ℓ / Σ w, and dz from torch's autograd of the same expression
    w = (rng.random((N, T)) > 0.3) * 1.0
    z = torch.tensor(rng.standard_normal((N, T, K)), requires_grad=True)
    per = F.cross_entropy(z.view(-1, K), torch.tensor(y).view(-1), reduction="none")
    expected = (per * torch.tensor(w).view(-1)).sum() / w.sum()
    expected.backward()
    node = loss_node("categorical")
    assert node.forward(z.detach().numpy(), y, w) == pytest.approx(expected.item(), rel=1e-13)
    np.testing.assert_allclose(node.backward(), z.grad.numpy(), rtol=1e-10, atol=1e-16)


def test_huber_and_mse_equal_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of this test")
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    x, t = 2 * rng.standard_normal((N, T, K)), rng.standard_normal((N, T, K))
    huber, mse = loss_node("huber"), loss_node("mse")
    got = huber.forward(x, t)
    want = F.huber_loss(torch.tensor(x), torch.tensor(t), delta=0.7, reduction="sum") / (N * T)
    assert got == pytest.approx(float(want), rel=1e-13)
    want = F.mse_loss(torch.tensor(x), torch.tensor(t), reduction="sum") / (2 * N * T)
    assert mse.forward(x, t) == pytest.approx(float(want), rel=1e-13)


@pytest.mark.parametrize("cls", [tg.Softmax, tg.LogSoftmax])
def test_softmax_on_the_last_axis(cls):
    assert max(check_node_gradients(cls(), (T, K)).values()) < 1e-6
    errors = check_node_r_operators(cls(), (T, K))
    assert max(errors.values()) < 1e-6
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of this part")
    x = np.random.default_rng(0).standard_normal((N, T, K))
    model = tg.Sequential([cls()], input_shape=(T, K))
    ref = (torch.softmax if cls is tg.Softmax else torch.log_softmax)(torch.tensor(x), dim=-1).numpy()
    np.testing.assert_allclose(model.forward(x), ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kind", ["categorical", "binary"])
def test_saturated_per_step_cross_entropy(kind):
    """Logits ±1000: finite loss, gradient and curvature, no warning (warnings are errors here)."""
    rng = np.random.default_rng(5)
    node = loss_node(kind)
    z = 1000.0 * np.sign(rng.standard_normal((N, T, K)))
    t = node.check_target(target(kind, rng), N)
    loss = node.forward(z, t, np.ones((N, T)))
    node.rforward(np.zeros(0), z)
    assert np.isfinite(loss) and np.isfinite(node.backward()).all() and np.isfinite(node.rbackward()).all()


def sequence_model(loss="categorical"):
    head = ([tg.Dense(K), tg.Softmax(), tg.CrossEntropy()] if loss == "categorical"
            else [tg.Dense(2), tg.Huber()])
    return tg.Sequential([tg.Embedding(6, 3), tg.LSTM(4, return_sequences=True), *head],
                         input_shape=T, random_state=0)


@pytest.mark.parametrize("loss", ["categorical", "huber"])
def test_sequence_model_gradient_and_curvature(loss):
    """Embedding → LSTM (every step) → Dense → loss on (N, T) targets: the whole-theta gradient and
    the Hessian product against central differences of ``loss_and_grad``."""
    rng = np.random.default_rng(6)
    model = sequence_model(loss)
    X = rng.integers(0, 6, (N, T))
    y = rng.integers(0, K, (N, T)) if loss == "categorical" else rng.standard_normal((N, T, 2))
    assert tg.check_gradients(model, X, y) < 1e-6
    theta, v = model.theta.copy(), rng.standard_normal(model.n_params)
    hv = model.hvp(theta, v, X, y)
    gp = model.loss_and_grad(theta + EPS * v, X, y)[1].copy()
    gm = model.loss_and_grad(theta - EPS * v, X, y)[1].copy()
    assert relative_error(hv, (gp - gm) / (2 * EPS)) < 1e-6
    gv = model.gnvp(theta, v, X, y)
    assert np.vdot(v, gv) >= 0.0


def test_targets_of_the_wrong_shape_are_named():
    model = sequence_model()
    X = np.zeros((N, T), dtype=int)
    with pytest.raises(ValueError, match=r"crossentropy\d*: expects targets of shape \(3, 5, 4\), "
                                         r"got \(3, 4\)"):
        model.loss_value(model.theta, X, np.zeros((N, 4), dtype=int))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\]"):
        model.loss_value(model.theta, X, np.full((N, T), 4))
    with pytest.raises(ValueError, match=r"hinge\d*: expects labels of shape \(3, 5\), got \(3,\)"):
        hinge = tg.Sequential([tg.Dense(K), tg.Hinge()], input_shape=(T, 2))
        hinge.loss_value(hinge.theta, np.zeros((N, T, 2)), np.zeros(N, dtype=int))


@pytest.mark.parametrize("cls", [tg.Softmax, tg.LogSoftmax])
def test_softmax_over_another_axis(cls):
    """axis=1 on (N, T, K) normalises over T (what files written before ``axis`` existed did, as
    ``legacy_config`` says); gradients and R-operators hold; CrossEntropy refuses it; axis 0 is refused."""
    x = np.random.default_rng(1).standard_normal((N, T, K))
    model = tg.Sequential([cls(axis=1)], input_shape=(T, K))
    out = model.forward(x)
    np.testing.assert_allclose(np.exp(out).sum(axis=1) if cls is tg.LogSoftmax else out.sum(axis=1), 1.0,
                               rtol=1e-12)
    assert max(check_node_gradients(cls(axis=1), (T, K)).values()) < 1e-6
    assert max(check_node_r_operators(cls(axis=-2), (T, K)).values()) < 1e-6
    assert cls.legacy_config == {"axis": 1} and cls(axis=2).get_config()["axis"] == 2
    with pytest.raises(TypeError, match="needs its Softmax over the last axis"):
        tg.Sequential([tg.Softmax(axis=1), tg.CrossEntropy()], input_shape=(T, K))
    with pytest.raises(ValueError, match=r"axis 0 is not a feature axis of inputs \(N, 5, 4\)"):
        tg.Sequential([cls(axis=0)], input_shape=(T, K))


def test_files_saved_before_softmax_axis_load_with_their_behaviour(tmp_path):
    """A Softmax on (N, T, K) saved before ``axis`` existed normalised axis 1: it still does."""
    import io
    import json
    import zipfile

    model = tg.Sequential([tg.Softmax(axis=1), tg.Flatten(), tg.MeanSquaredError()], input_shape=(T, K),
                          random_state=0)
    path = tg.save(model, tmp_path / "new.npz")
    old, popped = tmp_path / "old.npz", []
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "header.npy":
                header = json.loads(np.load(io.BytesIO(data)).tobytes().decode())
                for spec in header["model"]["nodes"]:
                    popped.append(spec["config"].pop("axis", "absent"))  # as written before axis existed
                buf = io.BytesIO()
                np.save(buf, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
                data = buf.getvalue()
            dst.writestr(item, data)
    assert 1 in popped
    back = tg.load(old)
    assert back.nodes[1].axis == 1
    x = np.random.default_rng(0).standard_normal((N, T, K))
    np.testing.assert_array_equal(back.forward(x), model.forward(x))
