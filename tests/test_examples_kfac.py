"""examples/kfac_autoencoder.py and examples/curvature_spectrum.py run with small settings."""
import numpy as np
import pytest
from _examples import load_example


def test_kfac_autoencoder_small_run(tmp_path):
    ex = load_example("kfac_autoencoder")
    curves = ex.main("autoencoder", budget=1.5, n_train=300, widths=(20, 10, 4),
                     names=["K-FAC damping=1 batch=500", "Adam lr=0.001"], out_dir=str(tmp_path), verbose=False)
    assert set(curves) == {"K-FAC damping=1 batch=500", "Adam lr=0.001"}
    for c in curves.values():
        assert c["steps"] > 0 and c["loss"][-1] < c["loss"][0] and np.all(np.diff(c["time"]) > 0)
    assert "time to target" in ex.summary(curves)
    pytest.importorskip("matplotlib")
    assert (tmp_path / "kfac_autoencoder.png").exists()


def test_kfac_lenet_table_small_run(tmp_path):
    ex = load_example("kfac_autoencoder")
    curves = ex.main("lenet", budget=1.0, n_train=200, names=["K-FAC damping=1 batch=500", "Adam lr=0.001"],
                     plot=False, verbose=False)
    assert all(0 <= c["accuracy"][-1] <= 1 for c in curves.values())


def test_curvature_spectrum_small_run(tmp_path):
    ex = load_example("curvature_spectrum")
    out = ex.main(epochs=1, n_train=200, batch=50, lanczos=12, probes=9, channels=(2, 3), hidden=8,
                  out=tmp_path / "s.png", verbose=False)
    for when in ("init", "trained"):
        r = out[when]
        assert r["top"] > 0 and np.isfinite(r["trace"]) and r["spectrum"].nodes.shape == (1, 12)
        assert r["top"] >= r["spectrum"].nodes.max() - 1e-6 * abs(r["top"])  # Ritz values lie inside
    pytest.importorskip("matplotlib")
    assert (tmp_path / "s.png").exists()
