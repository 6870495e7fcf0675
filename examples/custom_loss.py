"""Write your own loss: log-cosh (squared near 0, linear far out), robust to outliers.
===================================================================================

A loss node is the end of the graph (the contract is at the top of ``tinygraph/nodes/losses.py``):

- ``build(in_shape)`` checks the feature shape of its input and returns it (a loss has no output
  array of its own; the graph keeps the shape for drawing and for ``check_target``).
- ``check_target(y, N)`` turns the user's ``y`` into what ``forward`` reads, once per ``fit``,
  or raises naming the node. ``Loss.check_target`` already accepts (N,) or (N, K) numbers.
- ``forward(x, target, sample_weight)`` returns the *weighted mean* Σ_n w_n l_n / Σ_n w_n as a float
  (w = 1 without weights: the plain mean). ``self._weights(sample_weight, N)`` gives the factor to
  apply per row: the scalar 1/N, or the column w_n / Σ w; ``self._average(per_row)`` applies it.
- ``backward()`` takes no dy (the backward pass starts here) and returns dL/dx, which therefore
  carries the same factor: dx_n = (w_n / Σ w) · ∂l_n/∂x_n, i.e. divided by N without weights.
  Forgetting it makes the gradient N times too large and breaks ``tg.check_gradients``.
- ``rbackward()`` (for Newton-CG, Hessian-free, ``model.curvature``) returns H_L R{x} with the same
  factor; ``rforward`` comes from ``Loss``.

Run: ``python examples/custom_loss.py``.
"""
import numpy as np

import tinygraph as tg


@tg.register_node
class LogCosh(tg.Loss):
    """Log-cosh loss with scale delta: squared near 0 (½ r²), linear far out (delta |r|).

    forward:  r = x - t,  l_n = Σ_k delta² log cosh(r / delta)
    backward: dx = w · delta tanh(r / delta)              (w = 1/N, or w_n / Σ w)
    R-backward: R{dx} = w · (1 - tanh²(r / delta)) · R{x}  (H_L: diagonal)
    x, t, dx: (N, K); t may be (N,) when K = 1.
    """

    def __init__(self, delta: float = 1.0, *, name: str | None = None):
        super().__init__(name=name)
        if not delta > 0:
            raise ValueError(f"LogCosh: delta must be positive, got {delta!r}")
        self.delta = float(delta)

    def build(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 1:
            raise ValueError(f"{self.name}: expects inputs of shape (N, K), got (N, {in_shape})")
        return in_shape

    def forward(self, x, target, sample_weight=None) -> float:
        self.weight = self._weights(sample_weight, x.shape[0])
        r = np.subtract(x, target, out=self.buffer("r", x.shape))
        r /= self.delta
        self.t = np.tanh(r, out=self.buffer("tanh", x.shape))
        a = np.abs(r, out=r)
        # log cosh a = a + log1p(exp(-2a)) - log 2, with exp's argument kept above -80: no overflow or
        # underflow at |r| = 1000 (the term is below 1e-34 there anyway), in float32 too
        per_entry = a + np.log1p(np.exp(-2.0 * np.minimum(a, 40.0))) - np.log(2.0)
        return self.delta ** 2 * self._average(per_entry.sum(axis=1))

    def backward(self):
        dx = np.multiply(self.t, self.delta, out=self.buffer("dx", self.t.shape))
        dx *= self.weight
        return dx

    def rbackward(self):
        rdx = self.buffer("rdx", self.t.shape)
        if self.rx is None:
            rdx[...] = 0.0
            return rdx
        np.multiply(self.t, self.t, out=rdx)
        np.subtract(1.0, rdx, out=rdx)
        rdx *= self.rx
        rdx *= self.weight
        return rdx

    def get_config(self) -> dict:
        return {"delta": self.delta, "name": self.name}


def main(n: int = 200, maxiter: int = 200) -> dict:
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (n, 1))
    y = 2.0 * X[:, 0] + 1.0 + 0.1 * rng.standard_normal(n)
    y[: n // 10] += 30.0  # a tenth of the targets are gross outliers
    weights = rng.uniform(0.5, 2.0, n)
    out = {}
    for name, loss in (("squared error", tg.MeanSquaredError()), ("log-cosh", LogCosh(delta=1.0))):
        model = tg.Sequential([tg.Dense(1, 1), loss], random_state=0)
        out[f"{name} gradient error"] = tg.check_gradients(model, X, y, sample_weight=weights)
        tg.fit(model, X, y, "L-BFGS-B", maxiter=maxiter, tol=1e-12)
        out[name] = (float(model.layers[0].W[0, 0]), float(model.layers[0].b[0]))
        print(f"{name:>13}: slope {out[name][0]:.3f}, intercept {out[name][1]:.3f} (truth 2, 1); "
              f"weighted gradient check {out[f'{name} gradient error']:.1e}")
    # the R-operator: with a linear model the Gauss-Newton product is the Hessian's, which central
    # differences of the gradient give
    model = tg.Sequential([tg.Dense(1, 1), LogCosh(delta=1.0)], random_state=0)
    theta, v, h = model.theta.copy(), rng.standard_normal(model.n_params), 1e-6
    fd = (model.loss_and_grad(theta + h * v, X, y)[1] - model.loss_and_grad(theta - h * v, X, y)[1]) / (2 * h)
    gv = model.gnvp(theta, v, X, y)
    out["r-operator error"] = float(np.linalg.norm(gv - fd) / np.linalg.norm(fd))
    print(f"Gauss-Newton product against differences of the gradient: {out['r-operator error']:.1e}")
    return out


if __name__ == "__main__":
    # Quick at full size: the example gallery (TINYGRAPH_GALLERY=1) runs it as it is.
    main()
