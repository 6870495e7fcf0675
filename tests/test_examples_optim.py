"""examples/mnist_optimizers.py runs end to end on a small slice of the bundled MNIST digits."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "examples"))
import mnist_optimizers


def test_mnist_optimizers_main(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rows = mnist_optimizers.main(n_iter=3, batch_size=50, n_train=400, out_dir=str(tmp_path))
    assert [r["optimizer"] for r in rows] == list(mnist_optimizers.optimizers())
    by = {r["optimizer"]: r for r in rows}
    for name in ("GD", "RMSProp", "Adam", "Nesterov SGD"):
        assert by[name]["grad_evals"] == 3 and by[name]["examples_seen"] == 150
    cg = by["CG (3 its/batch)"]
    assert cg["grad_evals"] > 3 and cg["examples_seen"] == 50 * cg["grad_evals"]
    lbfgs = by["L-BFGS-B (full batch)"]
    assert lbfgs["examples_seen"] == 400 * lbfgs["grad_evals"]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["time_s"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert sum(line.startswith("| ") for line in out.splitlines()) == 1 + len(rows)
    assert "held-out accuracy" in out
    assert (tmp_path / "mnist_optimizers.png").stat().st_size > 1000
