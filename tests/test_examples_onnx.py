"""examples/onnx_roundtrip.py runs end to end with tiny settings."""
import pytest
from _examples import load_example

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")


def test_onnx_roundtrip_main(capsys):
    out = load_example("onnx_roundtrip").main(n_train=300, n_test=200, channels=(4, 6), hidden=16, repeats=2,
                                              lbfgs_rows=200, lbfgs_maxiter=10)
    assert out["agree"] == 1.0
    assert out["tinygraph_s"] > 0 and out["onnxruntime_s"] > 0
    if "torch_agree" in out:
        assert out["torch_agree"] == 1.0
        assert out["fine_tuned_accuracy"] > out["imported_accuracy"]
    assert "classes agree on 100.00%" in capsys.readouterr().out
