"""A small conv net end to end: whole-model gradient, Gauss-Newton and Hessian products against
finite differences, save/load, checkpoints, row blocks on threads and tinygraph.dask on N-D data."""
import logging

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.training.checkpoint import Checkpoint, load_checkpoint
from tinygraph.gradcheck import relative_error

SHAPE, K = (2, 8, 8), 3
EPS = 1e-5


def net(dtype=np.float64, l2=0.01):
    """conv → relu → maxpool → conv(stride 2, padded) → flatten → dense → softmax + cross-entropy."""
    return tg.Sequential([tg.Conv2D(4, 3, padding=1), tg.ReLU(), tg.MaxPool2D(2),
                          tg.Conv2D(3, 2, stride=2, padding=1), tg.Flatten(), tg.Dense(K), tg.Softmax(),
                          tg.CrossEntropy()], input_shape=SHAPE, l2=l2, dtype=dtype, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, *SHAPE))
    y = rng.integers(0, K, 12)
    return X, y


def test_whole_model_gradient(data):
    X, y = data
    assert tg.check_gradients(net(), X, y, n_checks=60) < 1e-6


@pytest.mark.parametrize("kind", ["hvp", "gnvp"])
def test_curvature_products_match_finite_differences(data, kind):
    """Hessian product: d/dr ∇L(θ + r v) by central differences. Gauss-Newton product: Jᵀ H_L J v
    with J v from central differences of the logits and Jᵀ by the model's own backward pass."""
    X, y = data
    model = net()
    rng = np.random.default_rng(1)
    theta, v = model.theta.copy(), rng.standard_normal(model.n_params)
    w = rng.random(X.shape[0]) + 0.5
    if kind == "hvp":
        hv = model.hvp(theta, v, X, y, sample_weight=w)
        gp = model.loss_and_grad(theta + EPS * v, X, y, sample_weight=w)[1]
        gm = model.loss_and_grad(theta - EPS * v, X, y, sample_weight=w)[1]
        assert relative_error(hv, (gp - gm) / (2 * EPS)) < 1e-6
        return
    gv = model.gnvp(theta, v, X, y, sample_weight=w)

    def logits(t):
        model.theta[:] = t
        return model._forward(X, model._train_plan)[model._loss_index].copy()

    z = logits(theta)
    Jv = (logits(theta + EPS * v) - logits(theta - EPS * v)) / (2 * EPS)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    HJv = (w / w.sum())[:, None] * p * (Jv - (p * Jv).sum(1, keepdims=True))
    # Jᵀ u by the model's own backward: the gradient of Σ u ⊙ z, from a loss whose dz is u
    model.theta[:] = theta
    model._forward(X, model._train_plan)
    grads = [None] * len(model.nodes)
    grads[model._loss_index] = HJv
    model.grad[:] = 0.0
    model._propagate(grads)
    expected = model.grad + model.l2 / w.sum() * v * _weight_mask(model)
    assert relative_error(gv, expected) < 1e-6


def _weight_mask(model):
    mask = np.zeros(model.n_params)
    for node in model.nodes:
        if "W" in node.regularized:
            mask[node.theta_slice][: node.views(mask)["W"].size] = 1.0
    return mask


def test_save_load_round_trip(tmp_path, data):
    X, _ = data
    model = net(l2=0.0)
    model.theta += 0.1
    path = tg.save(model, tmp_path / "conv.npz")
    back = tg.load(path)
    assert [type(n) for n in back.nodes] == [type(n) for n in model.nodes]
    assert [n.get_config() for n in back.nodes] == [n.get_config() for n in model.nodes]
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_checkpoint_resume_equals_the_straight_run(tmp_path, data):
    X, y = data
    straight = net()
    tg.fit(straight, X, y, tg.optim.Adam(0.01), batch_size=4, epochs=3, random_state=1)
    first = net()
    ck = Checkpoint(tmp_path / "ck.npz", every=1)
    tg.fit(first, X, y, tg.optim.Adam(0.01), batch_size=4, epochs=2, random_state=1, callback=ck)
    resume = load_checkpoint(tmp_path / "ck.npz")
    opt = tg.optim.Adam(0.01)
    resume.restore(opt)
    tg.fit(resume.model, X, y, opt, batch_size=4, epochs=3, initial_epoch=resume.epoch, random_state=1)
    assert resume.model.theta.tobytes() == straight.theta.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_blocks_on_threads_equal_one_pass(data, dtype):
    X, y = data
    model = net(dtype=dtype)
    loss1, g1 = model.loss_and_grad(model.theta, X, y)
    loss2, g2 = model.loss_and_grad(model.theta, X, y, n_jobs=2)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert abs(loss1 - loss2) <= tol * abs(loss1)
    np.testing.assert_allclose(g2, g1, rtol=0, atol=tol * np.abs(g1).max())


def test_dask_objective_on_row_chunked_images(data):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    X, y = data
    model = net()
    cluster = distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL)
    with distributed.Client(cluster) as client:
        Xd = da.from_array(X, chunks=(5, 1, 4, 8))  # split inside an image too: rechunked to whole rows
        with tg.dask.objective(model, Xd, y, client=client) as fun:
            assert fun.n_partitions == 3
            loss, grad = fun(model.theta)
        loss0, grad0 = model.loss_and_grad(model.theta, X, y)
        assert abs(loss - loss0) <= 1e-10 * abs(loss0)
        np.testing.assert_allclose(grad, grad0, rtol=0, atol=1e-10 * np.abs(grad0).max())
        batches = list(tg.dask.batches(Xd, y, batch_size=4, shuffle=False, client=client))
        assert [b[0].shape for b in batches] == [(4, *SHAPE), (1, *SHAPE)] * 2 + [(2, *SHAPE)]
        np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), X)
    cluster.close()


def test_scipy_lbfgs_trains_it(data):
    X, y = data
    model = net()
    before = model.loss_and_grad(model.theta, X, y)[0]
    res = tg.fit(model, X, y, "L-BFGS-B", maxiter=30)
    assert res.fun < 0.5 * before and model.score(X, y) > 0.9
