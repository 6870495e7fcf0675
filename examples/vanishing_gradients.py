"""Vanishing gradients, seen in one picture: a 6-layer sigmoid net next to the same net with ReLU.
===============================================================================================

Both nets are 784-64-64-64-64-64-10 (six Dense layers, softmax output, categorical cross-entropy),
with the same Glorot initial weights (seed 0). One ``loss_and_grad`` call on bundled MNIST digits
fills ``model.grad``; the norm of each layer's weight gradient ``‖dW‖`` then shows how much of the
error signal reaches that layer. Backpropagating through a sigmoid multiplies by σ'(x) ≤ 1/4, so in
the sigmoid net the norms shrink layer by layer towards the input; ReLU passes the signal of its
active units unchanged. The stats pictures (``render(..., stats=True)``: ‖dW‖, ‖db‖ and the mean/std
of every activation) go to ``examples/output/vanishing_{sigmoid,relu}.svg``.
Run: ``python examples/vanishing_gradients.py``.
"""
from itertools import pairwise
from pathlib import Path

import numpy as np

import tinygraph as tg

OUT = Path(__file__).resolve().parent / "output"


def build(activation, depth=6, hidden=64, random_state=0):
    """``depth`` Dense layers: 784 → hidden ×(depth-1) → 10, ``activation`` between them."""
    sizes = [784] + [hidden] * (depth - 1)
    layers = []
    for n_in, n_out in pairwise(sizes):
        layers += [tg.Dense(n_in, n_out), activation()]
    layers += [tg.Dense(sizes[-1], 10), tg.Softmax(), tg.CrossEntropy()]
    return tg.Sequential(layers, random_state=random_state)


def weight_grad_norms(model) -> list:
    """‖dW‖ of each Dense layer, input side first, read from the model's flat ``grad``."""
    return [float(np.linalg.norm(node.views(model.grad)["W"])) for node in model.nodes
            if isinstance(node, tg.Dense)]


def main(n_samples=1000, depth=6, hidden=64, out_dir=OUT, render=True) -> dict:
    """Gradient norms per layer for a sigmoid and a ReLU net after one loss_and_grad call."""
    X, y = tg.datasets.load_mnist()
    Xtr, _, ytr, _ = tg.datasets.train_test_split(X, y, test_size=2000, random_state=0)
    X, y = Xtr[:n_samples], ytr[:n_samples]
    norms = {}
    for name, activation in (("sigmoid", tg.Sigmoid), ("relu", tg.ReLU)):
        model = build(activation, depth, hidden)
        loss, _ = model.loss_and_grad(model.theta, X, y)
        norms[name] = weight_grad_norms(model)
        print(f"{name:8} loss {loss:.4f} on {len(X)} digits")
        if render:
            try:
                model.render(Path(out_dir) / f"vanishing_{name}.svg", stats=True)
            except tg.DotNotFoundError as err:  # the numbers below do not need the picture
                print(f"  no picture: {err}")
    print(f"{'layer':6} {'‖dW‖ sigmoid':>13} {'‖dW‖ relu':>11}")
    for i, (s, r) in enumerate(zip(norms["sigmoid"], norms["relu"]), 1):
        print(f"dense{i:<1} {s:13.3e} {r:11.3e}")
    for name, n in norms.items():
        print(f"{name}: first layer / last layer = {n[0] / n[-1]:.3g}")
    return norms


if __name__ == "__main__":
    # Quick at full size: the example gallery (TINYGRAPH_GALLERY=1) runs it as it is.
    main()
