"""Huber and the multiclass hinge: values and gradients against PyTorch and scikit-learn, R-operators,
saturation at ±1000 with every floating-point error raised, targets, predict/score, save/load, and a
small model per loss that trains."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.gradcheck import relative_error

EPS = 1e-5


def standalone(loss, K):
    """Wire and build one loss node for K outputs (no parameters)."""
    loss(tg.Input(K, name="z"))
    loss.name = loss.name or type(loss).__name__.lower()
    loss.in_shapes = ((K,),)
    loss.out_shape = tuple(loss.build((K,)))
    return loss


def regression(n=7, K=3, delta=1.0, seed=0):
    """Outputs, targets and residuals kept away from the kinks |r| = δ."""
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((n, K))
    r = 1.5 * delta * rng.standard_normal((n, K))
    r[np.abs(np.abs(r) - delta) < 0.05 * delta] *= 1.2
    return t + r, t


def scores(n=8, K=4, seed=0):
    """Scores with every margin 1 + z_m - z_y at least 0.05 from the kink at 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n) if K > 1 else rng.integers(0, 2, n)
    z = 2 * rng.standard_normal((n, K))
    rows = np.arange(n)
    for _ in range(20):
        if K > 1:
            other = np.where(np.eye(K, dtype=bool)[y], -np.inf, z).max(axis=1)
            margin = 1 + other - z[rows, y]
        else:
            margin = 1 - (2 * y - 1) * z[:, 0]
        near = np.abs(margin) < 0.05
        if not near.any():
            break
        z[near] += rng.standard_normal((near.sum(), K))
    return z, y


def directional_checks(loss, z, t, w):
    """R{L} against central differences of the loss, R{dz} against those of backward()."""
    rz = np.random.default_rng(9).standard_normal(z.shape)

    def run(r):
        value = loss.forward(z + r * rz, t, w)
        return value, loss.backward().copy()

    (lp, gp), (lm, gm) = run(EPS), run(-EPS)
    run(0.0)
    rl = loss.rforward(np.zeros(0), rz)
    rdz = loss.rbackward()
    assert abs(rl - (lp - lm) / (2 * EPS)) < 1e-8 * max(1.0, abs(rl))
    fd = (gp - gm) / (2 * EPS)
    assert np.abs(rdz - fd).max() < 1e-8 * max(1.0, np.abs(fd).max())
    return rdz


@pytest.mark.parametrize("delta", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_huber_r_operators_and_gradient(delta, weighted):
    x, t = regression(delta=delta)
    w = np.random.default_rng(1).uniform(0.2, 2.0, len(x)) if weighted else None
    loss = standalone(tg.Huber(delta), 3)
    rdz = directional_checks(loss, x, t, w)
    assert (rdz != 0).any() and (rdz == 0).any()  # both pieces are exercised
    loss.forward(x, t, w)
    dx = loss.backward().copy()
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = 1e-6
        num[i] = (loss.forward(x + e, t, w) - loss.forward(x - e, t, w)) / 2e-6
    assert relative_error(dx, num) < 1e-6


@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
def test_huber_equals_pytorch(delta):
    """Σ over outputs, weighted mean over rows: torch's huber_loss(reduction="none").sum(1), averaged."""
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for Huber")
    x, t = regression(n=9, K=4, delta=delta, seed=2)
    w = np.random.default_rng(3).uniform(0.2, 2.0, len(x))
    loss = standalone(tg.Huber(delta=delta), 4)
    for sw in (None, w):
        value = loss.forward(x, t, sw)
        dx = loss.backward()
        xt = torch.from_numpy(x).requires_grad_(True)
        per_row = torch.nn.functional.huber_loss(xt, torch.from_numpy(t), reduction="none", delta=delta).sum(1)
        wt = torch.ones(len(x), dtype=torch.float64) if sw is None else torch.from_numpy(sw)
        tl = (per_row * wt).sum() / wt.sum()
        tl.backward()
        assert value == pytest.approx(tl.item(), rel=1e-12)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-15)
    mean = torch.nn.functional.huber_loss(torch.from_numpy(x), torch.from_numpy(t), delta=delta).item()
    assert loss.forward(x, t) == pytest.approx(4 * mean, rel=1e-12)  # K × PyTorch's default "mean"


def test_huber_is_mse_inside_delta_and_linear_outside():
    x, t = regression(n=6, K=2, delta=1.0)  # |r| < 10: every residual on the quadratic piece
    assert np.abs(x - t).max() < 10
    huber, mse = standalone(tg.Huber(10.0), 2), standalone(tg.MeanSquaredError(), 2)
    assert huber.forward(x, t) == pytest.approx(mse.forward(x, t), rel=1e-14)
    np.testing.assert_array_equal(huber.backward(), mse.backward())
    far = standalone(tg.Huber(0.5), 1)
    assert far.forward(np.array([[10.0], [-10.0]]), np.zeros((2, 1))) == pytest.approx(0.5 * (10 - 0.25))


def test_hinge_equals_scikit_learn_and_pytorch():
    sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn's hinge_loss is the oracle")
    torch = pytest.importorskip("torch", reason="PyTorch's autograd is the gradient oracle")
    z, y = scores(n=12, K=4, seed=4)
    w = np.random.default_rng(5).uniform(0.2, 2.0, len(y))
    loss = standalone(tg.Hinge(), 4)
    for sw in (None, w):
        value = loss.forward(z, loss.check_target(y, len(y)), sw)
        dz = loss.backward()
        assert value == pytest.approx(sklearn_metrics.hinge_loss(y, z, labels=np.arange(4), sample_weight=sw),
                                      rel=1e-12)
        zt = torch.from_numpy(z).requires_grad_(True)
        onehot = torch.nn.functional.one_hot(torch.from_numpy(y), 4).bool()
        other = zt.masked_fill(onehot, -torch.inf).max(dim=1).values
        per_row = torch.clamp(1 + other - zt[torch.arange(len(y)), torch.from_numpy(y)], min=0)
        wt = torch.ones(len(y), dtype=torch.float64) if sw is None else torch.from_numpy(sw)
        ((per_row * wt).sum() / wt.sum()).backward()
        np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert 0 < loss.active.sum() < len(y)  # some rows inside the margin, some beyond it


def test_binary_hinge_equals_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn's hinge_loss is the oracle")
    z, y = scores(n=10, K=1, seed=6)
    loss = standalone(tg.Hinge(), 1)
    assert loss.forward(z, loss.check_target(y, 10)) == pytest.approx(sklearn_metrics.hinge_loss(y, z[:, 0]),
                                                                      rel=1e-12)
    np.testing.assert_array_equal(loss.check_target(y[:, None], 10), y)


@pytest.mark.parametrize("K", [1, 2, 4])
def test_hinge_gradient_and_r_operators(K):
    z, y = scores(n=9, K=K, seed=7)
    w = np.random.default_rng(8).uniform(0.2, 2.0, len(y))
    loss = standalone(tg.Hinge(), K)
    rdz = directional_checks(loss, z, y, w)
    assert not rdz.any()  # piecewise linear: no curvature
    loss.forward(z, y, w)
    dz = loss.backward().copy()
    num = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[i] = 1e-6
        num[i] = (loss.forward(z + e, y, w) - loss.forward(z - e, y, w)) / 2e-6
    assert dz.any() and relative_error(dz, num) < 1e-6


@pytest.mark.parametrize("make, K", [(lambda: tg.Huber(0.7), 3), (tg.Hinge, 3), (tg.Hinge, 1)])
def test_saturation_raises_no_floating_point_error(make, K):
    loss = standalone(make(), K)
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, 1000.0]])[:, :K]
    t = np.array([1, 0, 2]) % max(K, 2) if isinstance(loss, tg.Hinge) else -z[::-1]
    with np.errstate(all="raise"):
        value = loss.forward(z, t, None)
        dz = loss.backward()
        rl = loss.rforward(np.zeros(0), np.ones_like(z))
        rdz = loss.rbackward()
    assert np.isfinite(value) and value > 100 and np.isfinite(dz).all() and np.isfinite(rl)
    assert np.isfinite(rdz).all()


@pytest.mark.parametrize("target, K, exc, message", [
    (np.zeros((4, 3)), 3, ValueError, r"hinge: expects labels of shape \(4,\), got \(4, 3\)"),
    (np.array([0, 1, 3, 2]), 3, ValueError, r"hinge: labels must lie in \[0, 2\] for 3 outputs"),
    (np.array([0.0, 0.5, 1.0, 1.0]), 3, TypeError, "hinge: labels must be integers"),
    (np.array([0, 1, 2, 1]), 1, ValueError, r"hinge: labels must lie in \[0, 1\] for 1 output"),
])
def test_hinge_targets_are_labels(target, K, exc, message):
    with pytest.raises(exc, match=message):
        standalone(tg.Hinge(), K).check_target(target, 4)


@pytest.mark.parametrize("delta", [0.0, -1.0, np.inf, "one", True])
def test_huber_delta_must_be_positive(delta):
    with pytest.raises(ValueError, match="Huber: delta must be a positive finite number"):
        tg.Huber(delta)


@pytest.mark.parametrize("K", [1, 3])
def test_hinge_model_predicts_labels_and_scores_accuracy(K):
    rng = np.random.default_rng(10)
    X, y = rng.standard_normal((20, 5)), rng.integers(0, max(K, 2), 20)
    model = tg.Sequential([tg.Dense(5, 6), tg.Tanh(), tg.Dense(6, K), tg.Hinge()], random_state=0)
    z = model.forward(X)
    expected = z.argmax(axis=1) if K > 1 else (z[:, 0] > 0).astype(int)
    np.testing.assert_array_equal(model.predict(X), expected)
    assert model.score(X, y) == np.mean(expected == y)
    assert '[label=N style=dashed]' in model.to_graphviz().source  # the target is labels
    assert tg.check_gradients(model, X, y) < 1e-6
    theta, v = model.theta.copy(), rng.standard_normal(model.n_params)
    hv = model.hvp(theta, v, X, y)
    gp, gm = (model.loss_and_grad(theta + s * EPS * v, X, y)[1] for s in (1, -1))
    assert relative_error(hv, (gp - gm) / (2 * EPS)) < 1e-6


def test_huber_model_gradient_and_hessian_products():
    rng = np.random.default_rng(11)
    X, t = rng.standard_normal((15, 4)), 3 * rng.standard_normal((15, 2))
    model = tg.Sequential([tg.Dense(4, 5), tg.GELU(), tg.Dense(5, 2), tg.Huber(0.8)], l2=0.1, random_state=0)
    assert tg.check_gradients(model, X, t) < 1e-6
    theta, v = model.theta.copy(), rng.standard_normal(model.n_params)
    hv = model.hvp(theta, v, X, t)
    gp, gm = (model.loss_and_grad(theta + s * EPS * v, X, t)[1] for s in (1, -1))
    assert relative_error(hv, (gp - gm) / (2 * EPS)) < 1e-6


@pytest.mark.parametrize("loss, y", [(lambda: tg.Huber(0.5), np.arange(9.0).reshape(9, 1)),
                                     (tg.Hinge, np.arange(9) % 3)])
def test_save_load_round_trip(tmp_path, loss, y):
    K = 1 if y.ndim == 2 else 3
    model = tg.Sequential([tg.Dense(4, 5), tg.ELU(), tg.Dense(5, K), loss()], random_state=2)
    X = np.random.default_rng(12).standard_normal((9, 4))
    loaded = tg.load(model.save(tmp_path / "m.npz"))
    assert repr(loaded.nodes[-1]) == repr(model.nodes[-1])
    l0, g0 = model.loss_and_grad(model.theta, X, y)
    l1, g1 = loaded.loss_and_grad(loaded.theta, X, y)
    assert l0 == l1 and g0.tobytes() == g1.tobytes()
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_huber_fit_ignores_outliers_that_pull_mse():
    """A small net on sin(2x) with a sixth of the targets shifted by +8: Huber keeps the curve."""
    rng = np.random.default_rng(13)
    X = rng.uniform(-2, 2, (240, 1))
    clean = np.sin(2 * X[:, 0])
    y = clean + 0.05 * rng.standard_normal(240)
    outliers = rng.random(240) < 1 / 6
    y[outliers] += 8.0
    errors = {}
    for name, loss in (("huber", tg.Huber(0.5)), ("mse", tg.MeanSquaredError())):
        model = tg.Sequential([tg.Dense(1, 16), tg.Tanh(), tg.Dense(16, 1), loss], random_state=0)
        tg.fit(model, X, y, "L-BFGS-B", maxiter=100)
        errors[name] = np.mean((model.predict(X)[~outliers] - clean[~outliers]) ** 2)
    assert errors["huber"] < 0.02 and errors["mse"] > 0.5, errors


@pytest.mark.parametrize("dataset, hidden, target", [("iris", None, 0.9), ("digits", 32, 0.93)])
def test_hinge_classifier_trains(dataset, hidden, target):
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn bundles iris and digits")
    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9)
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X, y, test_size=0.3, random_state=0)
    K, D = int(y.max()) + 1, X.shape[1]
    layers = [tg.Dense(D, K)] if hidden is None else [tg.Dense(D, hidden), tg.ReLU(), tg.Dense(hidden, K)]
    model = tg.Sequential(layers + [tg.Hinge()], l2=1e-2, random_state=0)
    result = tg.fit(model, Xtr, ytr, "L-BFGS-B", maxiter=150, validation_data=(Xte, yte))
    assert model.score(Xte, yte) >= target
    assert result.history["val_score"][-1] == pytest.approx(model.score(Xte, yte))
