"""Write your own node: a learnable per-feature scale, y = x · a.
==============================================================

A node declares its parameters in ``build`` (the model lays them out in the flat theta and binds
``self.a`` and ``self.da`` as views), caches in ``forward`` what ``backward`` needs, and in
``backward`` writes its parameter gradient and returns the input gradient. Then
``tg.check_node_gradients`` compares it with central differences. The names the graph keeps on
every node (``inputs``, ``in_shapes``, ``out_shape``, ``start``, ``stop``, ``need_dx``, ``params``...:
``tinygraph.nodes.node.GRAPH_ATTRIBUTES``) are the graph's: a node that sets one of them for its own
use gets an error naming it. A custom *loss* is in ``examples/custom_loss.py``.
Run: ``python examples/custom_node.py``.
"""
import numpy as np
import scipy.optimize as so

import tinygraph as tg


class Scale(tg.Node):
    """Per-feature scale.

    forward:  y = x · a
    backward: da = Σ_n x · dy,  dx = dy · a
    x, y, dy, dx: (N, D); a: (D,).
    """

    cached = ("x",)

    def build(self, in_shape):
        self.params = (("a", in_shape),)
        return in_shape

    def init(self, rng, default=None):
        self.a[...] = 1.0

    def forward(self, x):
        self.x = x
        return np.multiply(x, self.a, out=self.buffer("y", x.shape))

    def backward(self, dy):
        np.einsum("nd,nd->d", self.x, dy, out=self.da)
        return np.multiply(dy, self.a, out=self.buffer("dx", dy.shape))


def main(maxiter=100):
    errors = tg.check_node_gradients(Scale(), (5,))
    print("gradient check (relative error):", {k: f"{v:.1e}" for k, v in errors.items()})

    X, y = tg.datasets.load_mnist()
    Xtr, Xte, ytr, yte = tg.datasets.train_test_split(X[:3000], y[:3000], test_size=1000, random_state=0)
    model = tg.Sequential([Scale(), tg.Dense(784, 10), tg.Softmax(), tg.CrossEntropy()],
                          n_features=784, l2=1.0, random_state=0)
    print(model)
    res = so.minimize(model.loss_and_grad, model.theta, args=(Xtr, ytr), jac=True, method="L-BFGS-B",
                      options={"maxiter": maxiter})
    model.theta[:] = res.x
    accuracy = model.score(Xte, yte)
    print(f"softmax regression with a learned input scale: held-out accuracy {accuracy:.3f}")
    return errors, accuracy


if __name__ == "__main__":
    # Quick at full size: the example gallery (TINYGRAPH_GALLERY=1) runs it as it is.
    main()
