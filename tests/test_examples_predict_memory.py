"""examples/predict_memory.py runs end to end with small settings (Linux: it reads /proc)."""
import os

import pytest
from _examples import load_example


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="reads the resident memory from /proc")
def test_predict_memory_quick():
    res = load_example("predict_memory").main(rows=200, torch=False, cases=("once",))
    r = res["once"]["tinygraph"]
    assert r["peak"] >= 0 and r["arrays_peak"] > 0 and r["arrays_held"] < r["arrays_peak"]
