"""examples/second_order.py runs with small settings, every method lowers the loss, the PNG is written."""

import numpy as np
from _examples import load_example


def test_second_order_small_run(tmp_path, monkeypatch):
    module = load_example("second_order")
    monkeypatch.setattr(module, "OUTPUT", tmp_path)
    results = module.main(n_train=500, iters=3, nets=((25,),))
    assert set(results) == {("784-25-10", m) for m in (*module.METHODS, "cost")}
    assert set(results.pop(("784-25-10", "cost"))) == {"gnvp", "hvp", "G product, kept pass",
                                                        "H product, kept pass"}
    for r in results.values():
        trace = r["trace"]
        assert trace.shape == (4, 3)  # the start and three iterations: (seconds, evaluations, loss)
        assert np.all(np.diff(trace[:, :2], axis=0) >= 0)
        assert trace[-1, 2] < trace[0, 2]
        assert r["sharpness"] > 0 and 0.1 < r["test_accuracy"] <= 1
    # second-order evaluations include the curvature products: more than one per iteration
    assert results["784-25-10", "hessian-free"]["trace"][-1, 1] > 3
    assert (tmp_path / "second_order.png").stat().st_size > 10_000

