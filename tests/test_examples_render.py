"""The rendering examples' main() with small defaults: files written, numbers that show the effect."""
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import tinygraph as tg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import render_graph
import vanishing_gradients

HAS_DOT = shutil.which("dot") is not None


def test_render_graph_main(tmp_path):
    written = render_graph.main(out_dir=tmp_path, docs_dir=tmp_path / "docs" if HAS_DOT else None)
    for name, build in render_graph.MODELS.items():
        model = build()
        gv = (tmp_path / f"{name}.gv").read_text(encoding="utf-8")
        assert gv == model.to_graphviz().source and f"{model.n_params:,} parameters" in gv
    assert render_graph.course_net().n_params == 400 * 25 + 25 + 25 * 10 + 10
    if not HAS_DOT:
        assert written == [tmp_path / f"{n}.gv" for n in render_graph.MODELS]
        return
    assert len(written) == 3 * 3 + 1 and all(p.exists() for p in written)
    for name in render_graph.MODELS:
        assert ET.parse(tmp_path / f"{name}.svg").getroot().tag.endswith("svg")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "docs" / "course_net.svg").read_bytes() == (tmp_path / "course_net.svg").read_bytes()


def test_committed_docs_picture_is_the_course_net():
    svg = Path(__file__).resolve().parents[1] / "docs" / "course_net.svg"
    texts = {t.text for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}text")}
    assert {"dense1", "theta[0:10025]", "N×400", "theta[10025:10285]"} <= texts


def test_vanishing_gradients_main(tmp_path, capsys):
    norms = vanishing_gradients.main(n_samples=200, out_dir=tmp_path)
    sig, relu = np.array(norms["sigmoid"]), np.array(norms["relu"])
    assert len(sig) == len(relu) == 6
    # sigmoid: every layer nearer the input gets a smaller gradient, by orders of magnitude overall
    assert np.all(np.diff(sig) > 0) and sig[0] / sig[-1] < 1e-2
    # relu: the signal reaches the first layer with no such decay
    assert relu[0] / relu[-1] > 0.5
    out = capsys.readouterr().out
    assert "dense1" in out and f"{sig[0]:.3e}" in out
    if HAS_DOT:
        svg = (tmp_path / "vanishing_sigmoid.svg").read_text(encoding="utf-8")
        assert "‖dW‖" in svg and "mean" in svg and "on N=200" in svg


def test_vanishing_norms_are_the_flat_gradient():
    model = vanishing_gradients.build(tg.Sigmoid, depth=3, hidden=8)
    rng = np.random.default_rng(0)
    X, y = rng.random((20, 784)), rng.integers(0, 10, 20)
    _, grad = model.loss_and_grad(model.theta, X, y)
    dense = [n for n in model.nodes if isinstance(n, tg.Dense)]
    expected = [np.linalg.norm(grad[d.start:d.start + d.n_in * d.n_out]) for d in dense]
    assert vanishing_gradients.weight_grad_norms(model) == pytest.approx(expected, rel=1e-12)
