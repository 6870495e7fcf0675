"""R-operators of every node against finite differences; Gauss-Newton and Hessian products of whole
graphs against finite differences of ``loss_and_grad`` and an explicit Jacobian; top eigenvalues
against a dense matrix (float64 throughout)."""
import gc
import weakref

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.curvature import CurvatureOperator, curvature, gnvp, hvp
from tinygraph.gradcheck import check_node_r_operators, relative_error

EPS = 1e-5


def standalone(node, *in_shapes, rng):
    """Wire, build and bind one node with its own random float64 theta."""
    if not node.inputs:
        node(*[tg.Input(s[0], name=f"x{i}") for i, s in enumerate(in_shapes)])
    node.name = node.name or type(node).__name__.lower()
    node.in_shapes = in_shapes
    node.out_shape = tuple(node.build(*in_shapes))
    node.start, node.stop = 0, node.size
    theta, grad = 0.5 * rng.standard_normal(node.size), np.zeros(node.size)
    node.bind(theta, grad)
    node.need_dx = True
    return theta, grad


NODES = [
    (lambda: tg.Dense(4, 3), [(4,)]),
    (tg.Sigmoid, [(5,)]),
    (tg.Tanh, [(5,)]),
    (tg.ReLU, [(5,)]),
    (tg.Identity, [(5,)]),
    (tg.Softmax, [(5,)]),
    (tg.Add, [(4,), (4,), (4,)]),
    (tg.Concat, [(3,), (2,), (4,)]),
]


@pytest.mark.parametrize("make, shapes", NODES, ids=lambda p: getattr(p, "__name__", None))
def test_node_rforward_rbackward_match_finite_differences(make, shapes):
    """R{y} = d/dr forward(x + r R{x}; θ + r v) and R{dx}, R{dθ} = d/dr backward(dy + r R{dy});
    with dy=None rbackward is the plain backward of R{dy} (Gauss-Newton)."""
    errors = check_node_r_operators(make(), *shapes)
    gauss_newton = errors.pop("gauss_newton")
    assert max(errors.values()) < 1e-8, errors
    assert gauss_newton < 1e-12


@pytest.mark.parametrize("make", [lambda: tg.Dense(4, 3), tg.Sigmoid, tg.Add, tg.Concat])
def test_rforward_of_data_is_none_or_parameter_part(make):
    """R{X} = 0 enters as None: parameterless nodes pass None on, Dense gives x VW + Vb."""
    rng = np.random.default_rng(1)
    node = make()
    shapes = [(4,)] if make in (tg.Sigmoid,) or isinstance(node, tg.Dense) else [(4,), (4,)]
    theta, _ = standalone(node, *shapes, rng=rng)
    xs = [rng.standard_normal((3,) + s) for s in shapes]
    node.forward(*xs)
    v = rng.standard_normal(theta.size)
    ry = node.rforward(v, *[None] * len(shapes))
    if isinstance(node, tg.Dense):
        V = node.views(v)
        np.testing.assert_allclose(ry, xs[0] @ V["W"] + V["b"], rtol=1e-12)
    else:
        assert ry is None


@pytest.mark.parametrize("kind", ["categorical", "binary", "mse"])
def test_loss_r_operators(kind):
    """R{L} is the directional derivative of the loss; rbackward is the derivative of backward()."""
    rng = np.random.default_rng(2)
    n, K = 5, 4
    if kind == "mse":
        node, t = tg.MeanSquaredError(), rng.standard_normal((n, K))
    else:
        node = tg.CrossEntropy()
        act = tg.Softmax() if kind == "categorical" else tg.Sigmoid()
        node.fuse(act)
        t = rng.integers(0, K, n) if kind == "categorical" else (rng.random((n, K)) > 0.5).astype(float)
    standalone(node, (K,), rng=rng)
    z, rz = 2 * rng.standard_normal((n, K)), rng.standard_normal((n, K))
    w = rng.random(n) + 0.5

    def run(r):
        loss = node.forward(z + r * rz, t, w)
        return loss, node.backward().copy()

    (lp, gp), (lm, gm) = run(EPS), run(-EPS)
    run(0.0)
    rl = node.rforward(np.zeros(0), rz)
    rdz = node.rbackward()
    assert abs(rl - (lp - lm) / (2 * EPS)) < 1e-8 * max(1.0, abs(rl))
    assert relative_error(rdz, (gp - gm) / (2 * EPS)) < 1e-8


def test_base_node_names_its_class():
    class Square(tg.Node):
        def forward(self, x):
            return x * x

    with pytest.raises(NotImplementedError, match="Square"):
        Square().rforward(np.zeros(0), None)
    with pytest.raises(NotImplementedError, match="Square"):
        Square().rbackward(np.zeros((1, 1)), None, np.zeros(0), np.zeros(0))


def skip_graph(act, loss, hidden_softmax=False, l2=0.3):
    """Dense-act-Dense-act with a skip connection (Add) and a second branch joined by Concat."""
    x = tg.Input(5)
    h1 = act()(tg.Dense(5, 6)(x))
    h2 = act()(tg.Dense(6, 6)(h1))
    a = tg.Add()(h1, h2)
    side = (tg.Softmax() if hidden_softmax else tg.Sigmoid())(tg.Dense(5, 3)(x))
    c = tg.Identity()(tg.Concat()(a, side))
    if loss == "categorical":
        out = tg.CrossEntropy()(tg.Softmax()(tg.Dense(9, 4)(c)))
    elif loss == "binary":
        out = tg.CrossEntropy()(tg.Sigmoid()(tg.Dense(9, 4)(c)))
    else:
        out = tg.MeanSquaredError()(tg.Dense(9, 4)(c))
    return tg.Graph(x, out, l2=l2, random_state=0)


def data(loss, n=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    if loss == "categorical":
        y = rng.integers(0, 4, n)
    elif loss == "binary":
        y = (rng.random((n, 4)) > 0.5).astype(float)
    else:
        y = rng.standard_normal((n, 4))
    return X, y


GRAPHS = [(act, loss) for act in (tg.Tanh, tg.Sigmoid, tg.ReLU) for loss in ("categorical", "binary", "mse")]


@pytest.mark.parametrize("act, loss", GRAPHS, ids=[f"{a.__name__}-{b}" for a, b in GRAPHS])
def test_hvp_matches_finite_differences_of_the_gradient(act, loss):
    model = skip_graph(act, loss, hidden_softmax=act is tg.Tanh)
    X, y = data(loss)
    rng = np.random.default_rng(3)
    theta, v = model.theta.copy(), rng.standard_normal(model.n_params)
    w = rng.random(X.shape[0]) + 0.5
    for sw in (None, w):
        hv = model.hvp(theta, v, X, y, sample_weight=sw)
        gp = model.loss_and_grad(theta + EPS * v, X, y, sample_weight=sw)[1]
        gm = model.loss_and_grad(theta - EPS * v, X, y, sample_weight=sw)[1]
        assert hv.shape == theta.shape and hv is not model.grad
        assert relative_error(hv, (gp - gm) / (2 * EPS)) < 1e-6


def logits(model, theta, X):
    model.theta[:] = theta
    return model._forward(X, model._train_plan)[model._loss_index].copy()


@pytest.mark.parametrize("loss", ["categorical", "binary", "mse"])
def test_gnvp_equals_explicit_jacobian_product(loss):
    """G v = Jᵀ H_L J v / N + (l2/N) v_W with J from central differences of the logits."""
    model = skip_graph(tg.Tanh, loss)
    X, y = data(loss)
    N, P = X.shape[0], model.n_params
    theta = model.theta.copy()
    J = np.empty((N, 4, P))
    for i in range(P):
        e = np.zeros(P)
        e[i] = EPS
        J[:, :, i] = (logits(model, theta + e, X) - logits(model, theta - e, X)) / (2 * EPS)
    z = logits(model, theta, X)
    if loss == "categorical":
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        HL = np.einsum("nk,kl->nkl", p, np.eye(4)) - np.einsum("nk,nl->nkl", p, p)
    elif loss == "binary":
        p = 1 / (1 + np.exp(-z))
        HL = np.einsum("nk,kl->nkl", p * (1 - p), np.eye(4))
    else:
        HL = np.broadcast_to(np.eye(4), (N, 4, 4))
    reg = np.zeros(P)
    for node in model.nodes:
        for name in node.regularized:
            node.views(reg)[name][...] = model.l2 / N
    G = np.einsum("nkp,nkl,nlq->pq", J, HL, J) / N + np.diag(reg)
    v = np.random.default_rng(4).standard_normal(P)
    assert relative_error(model.gnvp(theta, v, X, y), G @ v) < 1e-6


@pytest.mark.parametrize("n_out", [1, 3])
def test_linear_least_squares_hessian_is_gauss_newton(n_out):
    rng = np.random.default_rng(5)
    model = tg.Sequential([tg.Dense(4, n_out), tg.MeanSquaredError()], l2=0.5, random_state=0)
    X, y = rng.standard_normal((9, 4)), rng.standard_normal((9, n_out))
    v = rng.standard_normal(model.n_params)
    H, G = model.hvp(model.theta, v, X, y), model.gnvp(model.theta, v, X, y)
    assert relative_error(H, G) < 1e-12
    A = np.hstack([X, np.ones((9, 1))])  # one output: G = AᵀA/N (+ l2/N on W), A = [X, 1]
    if n_out == 1:
        dense = A.T @ A / 9 + np.diag([0.5 / 9] * 4 + [0.0])
        assert relative_error(G, dense @ v) < 1e-12


def test_gauss_newton_is_symmetric_psd_and_hessian_symmetric():
    model = skip_graph(tg.Sigmoid, "categorical")
    X, y = data("categorical", n=11)
    rng = np.random.default_rng(6)
    for kind in ("gauss-newton", "hessian"):
        op = CurvatureOperator(model, X, y, kind=kind)
        for _ in range(3):
            u, v = rng.standard_normal((2, model.n_params))
            assert abs(u @ op.product(v) - v @ op.product(u)) < 1e-10 * np.linalg.norm(u) * np.linalg.norm(v)
            if kind == "gauss-newton":
                assert v @ op.product(v) > 0


def test_operator_redoes_its_passes_after_another_forward():
    model = skip_graph(tg.Tanh, "binary")
    X, y = data("binary")
    rng = np.random.default_rng(7)
    theta, v = model.theta.copy(), rng.standard_normal(model.n_params)
    for kind, product in (("gauss-newton", gnvp), ("hessian", hvp)):
        op = CurvatureOperator(model, X, y, kind=kind)
        expected = op.product(v)
        model.loss_and_grad(theta + 1.0, X[:3], y[:3])  # other theta, other data
        np.testing.assert_allclose(op.product(v), expected, rtol=1e-12)
        np.testing.assert_allclose(product(model, theta, v, X, y), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", ["gauss-newton", "hessian"])
def test_top_eigenvalues_match_a_dense_matrix(kind):
    model = skip_graph(tg.Tanh, "categorical", l2=0.0)
    X, y = data("categorical", n=20)
    op = CurvatureOperator(model, X, y, kind=kind)
    dense = np.column_stack([op.product(e) for e in np.eye(model.n_params)])
    np.testing.assert_allclose(dense, dense.T, atol=1e-10)
    expected = np.sort(np.linalg.eigvalsh(dense))[::-1][:4]
    top = model.curvature(X, y, k=4, kind=kind)
    np.testing.assert_allclose(top, expected, rtol=1e-7, atol=1e-10)
    if kind == "hessian":
        low = curvature(model, X, y, k=2, kind=kind, which="SA")
        np.testing.assert_allclose(low, np.sort(np.linalg.eigvalsh(dense))[:2], rtol=1e-6, atol=1e-9)


def test_bad_arguments():
    model = skip_graph(tg.Tanh, "mse")
    X, y = data("mse")
    with pytest.raises(ValueError, match="kind"):
        CurvatureOperator(model, X, y, kind="newton")
    with pytest.raises(ValueError, match="shape"):
        model.gnvp(model.theta, np.ones(3), X, y)
    with pytest.raises(ValueError, match="k must"):
        model.curvature(X, y, k=0)
    with pytest.raises(RuntimeError, match="no loss_and_grad"):
        CurvatureOperator.from_last_forward(skip_graph(tg.Tanh, "mse"))


def test_repeated_products_reuse_one_pass_and_follow_theta():
    """model.gnvp at one (theta, X, y) reuses its forward pass; a new theta or data redoes it."""
    model = skip_graph(tg.Sigmoid, "categorical")
    X, y = data("categorical")
    rng = np.random.default_rng(8)
    theta, v = model.theta.copy(), rng.standard_normal(model.n_params)
    other = theta + 0.1 * rng.standard_normal(theta.size)
    first = model.gnvp(theta, v, X, y)
    values = model._values  # a new list after every forward pass
    np.testing.assert_array_equal(model.gnvp(theta, v, X, y), first)
    assert model._values is values
    at_other = model.gnvp(other, v, X, y)
    assert model._values is not values
    np.testing.assert_allclose(at_other, CurvatureOperator(model, X, y, theta=other).product(v), rtol=1e-12)
    np.testing.assert_allclose(model.gnvp(theta, v, X.copy(), y), first, rtol=1e-12)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None  # the cache does not keep a model alive


@pytest.mark.parametrize("kind", ["gauss-newton", "hessian"])
def test_operator_from_the_last_forward_pass(kind):
    model = skip_graph(tg.Tanh, "mse")
    X, y = data("mse")
    v = np.random.default_rng(9).standard_normal(model.n_params)
    model.loss_and_grad(model.theta, X, y)
    op = CurvatureOperator.from_last_forward(model, kind=kind)
    np.testing.assert_allclose(op.product(v), CurvatureOperator(model, X, y, kind=kind).product(v),
                               rtol=1e-12)
    model.loss_and_grad(model.theta, X[:2], y[:2])
    with pytest.raises(RuntimeError, match="another forward"):
        op.product(v)


def test_float32_products_match_float64():
    X, y = data("categorical")
    v = np.random.default_rng(10).standard_normal(skip_graph(tg.Tanh, "categorical").n_params)
    out = {}
    for dtype in (np.float32, np.float64):
        x = tg.Input(5)
        h = tg.Tanh()(tg.Dense(5, 6)(x))
        model = tg.Graph(x, tg.CrossEntropy()(tg.Softmax()(tg.Dense(6, 4)(tg.Add()(h, tg.Dense(6, 6)(h))))),
                         dtype=dtype, random_state=0)
        v = v[:model.n_params]
        out[dtype] = model.gnvp(model.theta, v, X, y), model.hvp(model.theta, v, X, y)
        assert out[dtype][0].dtype == out[dtype][1].dtype == dtype
    for a, b in zip(out[np.float32], out[np.float64]):
        assert relative_error(a, b) < 1e-5


def random_graph(seed):
    """A random DAG: 1-4 hidden blocks of random width and activation, each block possibly joined to
    an earlier one by Add (same width) or Concat; a random loss."""
    rng = np.random.default_rng(seed)
    acts = [tg.Tanh, tg.Sigmoid, tg.ReLU, tg.Identity, tg.Softmax]
    x = tg.Input(4)
    outs = [(x, 4)]
    for _ in range(rng.integers(1, 5)):
        src, n_in = outs[rng.integers(len(outs))]
        width = int(rng.integers(2, 6))
        h = acts[rng.integers(len(acts))]()(tg.Dense(n_in, width)(src))
        joinable = [(o, n) for o, n in outs[1:] if o is not src]
        if joinable and rng.random() < 0.7:
            other, n_other = joinable[rng.integers(len(joinable))]
            if n_other == width and rng.random() < 0.5:
                h = tg.Add()(h, other)
            else:
                h, width = tg.Concat()(h, other), width + n_other
        outs.append((h, width))
    h, width = outs[-1]
    loss = ["categorical", "binary", "mse"][rng.integers(3)]
    z = tg.Dense(width, 3)(h)
    head = {"categorical": lambda: tg.CrossEntropy()(tg.Softmax()(z)),
            "binary": lambda: tg.CrossEntropy()(tg.Sigmoid()(z)),
            "mse": lambda: tg.MeanSquaredError()(z)}[loss]()
    n = 6
    y = {"categorical": rng.integers(0, 3, n), "binary": (rng.random((n, 3)) > 0.5).astype(float),
         "mse": rng.standard_normal((n, 3))}[loss]
    model = tg.Graph(x, head, l2=float(rng.random()), random_state=seed)
    return model, rng.standard_normal((n, 4)), y


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_hvp_and_gnvp(seed):
    model, X, y = random_graph(seed)
    rng = np.random.default_rng(100 + seed)
    theta = model.theta + 0.3 * rng.standard_normal(model.n_params)
    v = rng.standard_normal(model.n_params)
    hv = model.hvp(theta, v, X, y)
    gp, gm = (model.loss_and_grad(theta + s * EPS * v, X, y)[1] for s in (1, -1))
    assert relative_error(hv, (gp - gm) / (2 * EPS)) < 1e-6
    u = rng.standard_normal(model.n_params)
    gv, gu = model.gnvp(theta, v, X, y), model.gnvp(theta, u, X, y)
    assert abs(u @ gv - v @ gu) <= 1e-10 * np.linalg.norm(u) * np.linalg.norm(v)
    assert v @ gv >= -1e-12 * (v @ v)


@pytest.mark.parametrize("v,exc,msg", [
    (lambda n: np.full(n, np.nan), ValueError, "gauss-newton product: v contains NaN or inf"),
    (lambda n: np.array(["a"] * n), TypeError, "gauss-newton product: v must be a real floating array"),
    (lambda n: np.ones(n + 1), ValueError, r"gauss-newton product: v must have shape"),
])
def test_bad_directions_are_named(v, exc, msg):
    X, y = np.random.default_rng(0).standard_normal((6, 3)), np.arange(6) % 2
    model = tg.Sequential([tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)
    with pytest.raises(exc, match=msg):
        model.gnvp(model.theta, v(model.n_params), X, y)
