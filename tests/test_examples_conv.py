"""examples/mnist_lenet.py and examples/benchmark_conv.py run end to end with tiny settings
(no timings asserted)."""
import numpy as np
import pytest
from _examples import load_example


def test_mnist_lenet_main(capsys):
    out = load_example("mnist_lenet").main(epochs=2, batch_size=32, lr=0.01, n_train=256, n_test=200,
                                           lbfgs_rows=64, lbfgs_maxiter=3, channels=(4, 6), hidden=32,
                                           progress=False)
    assert out["steps"] == 2 * 8
    assert 0.3 < out["adam_accuracy"] <= 1.0  # 256 digits, 16 steps: well above chance (0.1; it gets 0.59)
    assert 0.0 <= out["lbfgs_accuracy"] <= 1.0 and out["lbfgs_iterations"] <= 3
    text = capsys.readouterr().out
    assert "epoch 2/2" in text and "held-out accuracy" in text and "L-BFGS-B" in text


def test_benchmark_conv_quick(capsys):
    bench = load_example("benchmark_conv")
    rows = bench.main(rounds=1, steps=1, dtypes=(np.float32,), thread_counts=[1], memory=False)
    assert len(rows) == 1 and rows[0]["tinygraph_ms"] > 0
    if rows[0]["pytorch_ms"] == rows[0]["pytorch_ms"]:  # PyTorch installed
        assert rows[0]["ratio"] > 0
    assert "tinygraph / PyTorch" in capsys.readouterr().out


def test_benchmark_conv_starts_from_the_same_weights():
    torch = pytest.importorskip("torch", reason="PyTorch is the peer of the benchmark")
    bench = load_example("benchmark_conv")
    model = bench.lenet_net(random_state=0)
    X, _ = bench.batch(np.float64)
    net = bench.torch_lenet(model, np.float64)
    np.testing.assert_allclose(net(torch.from_numpy(X)).softmax(1).detach().numpy(), model.predict_proba(X),
                               rtol=0, atol=1e-12)
