"""examples/dask_lbfgs.py runs end to end on a small LocalCluster and reports a consistent time split."""

import pytest
from _examples import load_example

pytest.importorskip("distributed")


def test_dask_lbfgs_trains_and_splits_the_time(capsys):
    out = load_example("dask_lbfgs").main(n_rows=4000, hidden=16, chunk_rows=1000, maxiter=4)
    assert out["loss"] < 0.9 * out["loss0"]  # the teacher's labels are learnable
    assert out["nit"] == 4 and out["n_evaluations"] >= 5
    assert out["compute_per_eval"] > 0 and out["communication_per_eval"] > 0
    assert out["wall_per_eval"] == pytest.approx(out["compute_per_eval"] + out["communication_per_eval"])
    printed = capsys.readouterr().out
    assert "4000 rows in 4 partitions on 2 workers" in printed and "per evaluation:" in printed
