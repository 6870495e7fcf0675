"""The performance examples run end to end in quick mode (peers only if installed; no timings asserted)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import benchmark
import benchmark_optim
import cost_growth


def test_matmul_flops_counts_forward_backward_and_skips_the_first_dx():
    # per row: forward and dW of every layer (2·a·b each), dx of all but the first layer
    assert benchmark.matmul_flops((784, 25, 10), 1) == 2 * 784 * 25 * 2 + 2 * 25 * 10 * 3
    assert benchmark.matmul_flops((4, 3, 2, 1), 10) == 10 * (2 * 12 * 2 + 2 * 6 * 3 + 2 * 2 * 3)


def test_benchmark_quick(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "OUTPUT", tmp_path)
    peers = tuple(p for p in ("torch", "sklearn") if importlib.util.find_spec(p) is not None)
    res = benchmark.main(quick=True, peers=peers, dtypes=("float32",))
    assert len(res["epochs"]) == 2
    for row in res["epochs"]:
        assert row["tinygraph"] > 0 and row["bound_s"] > 0 and row["dtype"] == "float32"
        assert row["bound_fraction"] == pytest.approx(row["bound_s"] / row["tinygraph"])
        for name in ("PyTorch", "scikit-learn"):
            assert (name in row) == ({"PyTorch": "torch", "scikit-learn": "sklearn"}[name] in peers)
            if name in row:
                assert row[name + " ratio"] == pytest.approx(row[name] / row["tinygraph"])  # one round
    fb = res["full_batch"]
    for dtype in ("float64", "float32"):
        mine = fb[f"tinygraph_{dtype}"]
        assert mine["nit"] == fb["maxiter"] == 10 and mine["s"] > 0
        assert ("sklearn_ratio" in mine) == ("sklearn" in peers)
    assert set(fb["loss_and_grad_ms"]) == {"float64 1t", "float32 1t"}  # quick: one thread only
    assert ("sklearn" in fb) == ("sklearn" in peers)
    mem = res["memory"]
    assert 0 < mem["peak_fit_MB"] < mem["data_MB"]  # a fit never copies the data
    assert json.loads((tmp_path / "benchmark_quick.json").read_text())["rows"] == 2000


def test_cost_growth_quick(tmp_path):
    pytest.importorskip("matplotlib")
    res = cost_growth.main(quick=True, path=tmp_path / "growth.png")
    assert [p for p, _, _ in res["by_batch"]] == [32, 128, 512]
    assert [p for p, _, _ in res["by_width"]] == [64, 128, 256]
    assert all(t > 0 and b > 0 for _, t, b in res["by_batch"] + res["by_width"])
    assert (tmp_path / "growth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_defaults_table_times_every_setting_on_one_core():
    rows = benchmark.default_settings_on(1, repeats=1, quick=True)
    assert [r["cores"] for r in rows] == [1, 1, 1]
    for r in rows:
        assert set(r["seconds"]) >= {"default", "threads=1"} and all(v > 0 for v in r["seconds"].values())
        assert r["default_over_best"] == pytest.approx(r["seconds"]["default"] / r["seconds"]["threads=1"])


def test_benchmark_optim_small_run():
    r = benchmark_optim.main(rounds=1, n=1, dtypes=("float32",), sizes=("784-256-256-10",), peers=False)
    assert set(r) == {("784-256-256-10", "float32")} and r["784-256-256-10", "float32"]["tinygraph"] > 0
