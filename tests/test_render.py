"""Rendering: the DOT text of a model, files written by the system `dot`, the missing-dot error."""
import itertools
import re
import shutil
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
import pytest
from scipy.special import expit

import tinygraph as tg
from tinygraph.render import DotNotFoundError, mimebundle, summary, to_graphviz

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="the system graphviz package (dot) is not installed")

NODE = re.compile(r'^\t(n\d+) \[label="(.*?)"(.*)\]$', re.MULTILINE)
EDGE = re.compile(r'^\t(n\d+) -> (n\d+) \[label=(?:"(.*?)"|(\w+))', re.MULTILINE)


def course_net(**kw):
    return tg.Sequential([tg.Dense(400, 25), tg.Sigmoid(), tg.Dense(25, 10), tg.Sigmoid(),
                          tg.CrossEntropy()], **{"random_state": 0, **kw})


def skip_graph():
    x = tg.Input(8)
    h1 = tg.Tanh()(tg.Dense(8, 6)(x))
    h2 = tg.ReLU()(tg.Dense(6, 6)(h1))
    s = tg.Add()(h1, h2)
    c = tg.Concat()(s, tg.Sigmoid()(tg.Dense(8, 2)(x)))
    out = tg.Softmax()(tg.Dense(8, 3)(c))
    return tg.Graph(x, tg.CrossEntropy()(out), random_state=0)


def parse(source):
    nodes = {i: (label.split("\\n"), attrs) for i, label, attrs in NODE.findall(source)}
    edges = [(a, b, quoted or bare) for a, b, quoted, bare in EDGE.findall(source)]
    return nodes, edges


COURSE_DOT = r'''digraph Sequential {
	fontname=Helvetica fontsize=13 label="Sequential: 10,285 parameters (float64, l2=1)" labelloc=t rankdir=TB
	node [fontname=Helvetica fontsize=10]
	edge [fontname=Helvetica fontsize=9]
	n0 [label="input\nInput (400 features)" fillcolor="#cfe2ff" shape=parallelogram style=filled]
	n1 [label="dense1\nDense\nW: 400×25, b: 25\n10,025 params\ntheta[0:10025]" fillcolor="#e5dbff" shape=box style="rounded,filled"]
	n2 [label="sigmoid1\nSigmoid" fillcolor="#d3f9d8" shape=ellipse style=filled]
	n3 [label="dense2\nDense\nW: 25×10, b: 10\n260 params\ntheta[10025:10285]" fillcolor="#e5dbff" shape=box style="rounded,filled"]
	n4 [label="sigmoid2\nSigmoid" fillcolor="#d3f9d8" shape=ellipse style=filled]
	n5 [label="crossentropy1\nCrossEntropy (binary, fused with sigmoid2)" fillcolor="#ffc9c9" shape=doubleoctagon style=filled]
	n0 -> n1 [label="N×400"]
	n1 -> n2 [label="N×25"]
	n2 -> n3 [label="N×25"]
	n3 -> n4 [label="N×10"]
	n4 -> n5 [label="N×10"]
	n6 [label="y\ntarget" fillcolor="#fff3bf" shape=parallelogram style="filled,dashed"]
	n6 -> n5 [label="N or N×10" style=dashed]
}
'''


def test_course_net_dot_text():
    dot = course_net(l2=1.0).to_graphviz()
    assert isinstance(dot, graphviz.Digraph)
    assert dot.source == COURSE_DOT
    # the same text from a freshly built model and through tg.render without a path (no dot needed)
    assert tg.render(course_net(l2=1.0)).source == COURSE_DOT


def test_sequential_structure_follows_the_model():
    model = tg.Sequential([tg.Dense(7, 5), tg.Tanh(), tg.Dense(5, 4), tg.ReLU(), tg.Dense(4, 1),
                           tg.Identity(), tg.MeanSquaredError()], random_state=0)
    nodes, edges = parse(model.to_graphviz().source)
    assert sorted(nodes, key=lambda i: int(i[1:])) == [f"n{i}" for i in range(len(model.nodes) + 1)]
    for i, node in enumerate(model.nodes):
        lines, _ = nodes[f"n{i}"]
        assert lines[0] == node.name
        if node.size:
            assert f"{node.size:,} params" in lines and f"theta[{node.start}:{node.stop}]" in lines
    ids = {n.name: f"n{i}" for i, n in enumerate(model.nodes)}
    expected = [(ids[a.name], ids[b.name], "N×" + str(a.out_shape[0])) for a, b in model.edges]
    expected.append((f"n{len(model.nodes)}", ids[model.loss.name], "N"))  # a single-output target
    assert edges == expected
    assert f"{model.n_params:,} parameters" in model.to_graphviz().source
    assert model.n_params == 7 * 5 + 5 + 5 * 4 + 4 + 4 + 1


def test_skip_connection_and_concat_graph():
    model = skip_graph()
    source = model.to_graphviz().source
    nodes, edges = parse(source)
    name = {i: lines[0] for i, (lines, _) in nodes.items()}
    drawn = {(name[a], name[b], label) for a, b, label in edges}
    assert {(a.name, b.name, f"N×{a.out_shape[0]}") for a, b in model.edges} <= drawn
    assert ("add1" in [b for _, b, _ in drawn]) and sum(b == "add1" for _, b, _ in drawn) == 2
    assert ("add1", "concat1", "N×6") in drawn and ("sigmoid1", "concat1", "N×2") in drawn
    assert ("concat1", "dense4", "N×8") in drawn
    shapes = {lines[0]: re.search(r"shape=(\w+)", attrs).group(1) for lines, attrs in nodes.values()}
    assert shapes["add1"] == shapes["concat1"] == "hexagon"
    assert shapes["input"] == shapes["y"] == "parallelogram"
    assert {shapes[n] for n in ("tanh1", "relu1", "sigmoid1", "softmax1")} == {"ellipse"}
    assert {shapes[f"dense{i}"] for i in range(1, 5)} == {"box"}
    assert shapes["crossentropy1"] == "doubleoctagon"
    slices = sorted(re.search(r"theta\[(\d+):(\d+)\]", "\\n".join(lines)).groups()
                    for lines, _ in nodes.values() if lines[0].startswith("dense"))
    bounds = sorted((int(a), int(b)) for a, b in slices)
    assert bounds[0][0] == 0 and bounds[-1][1] == model.n_params
    assert all(b1 == a2 for (_, b1), (a2, _) in itertools.pairwise(bounds))  # contiguous, no gaps
    assert f'label="Graph: {model.n_params:,} parameters (float64)"' in source
    assert 'label="N or N×3"' in source


def test_rankdir_title_and_frozen_nodes():
    model = course_net()
    model.layers[0].trainable = False
    source = to_graphviz(model, rankdir="LR", title='my "net"').source
    assert "rankdir=LR" in source and r'label="my \"net\""' in source
    nodes, _ = parse(source)
    lines, attrs = nodes["n1"]
    assert "10,025 params (frozen)" in lines and "dashed" in attrs
    with pytest.raises(ValueError, match="rankdir"):
        to_graphviz(model, rankdir="sideways")


def test_names_cannot_inject_dot_escapes():
    x = tg.Input(3, name="in\\n")
    model = tg.Graph(x, tg.MeanSquaredError()(tg.Dense(3, 1, name='a"b')(x)))
    source = model.to_graphviz().source
    assert 'label="in\\\\n\\nInput (3 features)"' in source
    assert 'label="a\\"b\\nDense' in source


def test_stats_overlay_matches_an_independent_computation():
    model = course_net()
    with pytest.raises(ValueError, match="loss_and_grad"):
        model.to_graphviz(stats=True)
    rng = np.random.default_rng(1)
    X, y = rng.random((30, 400)), rng.integers(0, 10, 30)
    _, grad = model.loss_and_grad(model.theta, X, y)
    nodes, _ = parse(model.to_graphviz(stats=True).source)
    dense1, dense2 = model.layers[0], model.layers[2]
    W1 = model.theta[:400 * 25].reshape(400, 25)
    h = expit(X @ W1 + model.theta[400 * 25:10025])
    assert f"‖dW‖ = {np.linalg.norm(grad[dense1.theta_slice][:10000]):.2e}" in nodes["n1"][0]
    assert f"‖db‖ = {np.linalg.norm(grad[10025 + 250:10285]):.2e}" in nodes["n3"][0]
    assert f"mean {h.mean():.3g}, std {h.std():.3g}" in nodes["n2"][0]
    assert f"mean {X.mean():.3g}, std {X.std():.3g}" in nodes["n0"][0]
    assert "(computed inside the loss)" in nodes["n4"][0]  # the fused sigmoid never runs in training
    assert dense2.size == 260
    assert "on N=30" in model.to_graphviz(stats=True).source


def test_summary_table(capsys):
    model = skip_graph()
    text = summary(model)
    model.summary()
    assert capsys.readouterr().out == text + "\n"
    lines = text.splitlines()
    assert lines[2].split() == ["node", "type", "output", "shape", "params", "theta", "slice", "inputs"]
    for node in model.nodes:
        row = next(ln for ln in lines if ln.split() and ln.split()[0] == node.name)
        assert type(node).__name__ in row and f"{node.size:,}" in row
        if node.size:
            assert f"theta[{node.start}:{node.stop}]" in row
        if node.inputs:
            assert row.endswith(", ".join(x.name for x in node.inputs))
    assert "N×8" in next(ln for ln in lines if ln.startswith("concat1"))
    assert lines[-1].startswith(f"total parameters: {model.n_params:,}")


@needs_dot
def test_render_real_svg_png_pdf(tmp_path):
    model = skip_graph()
    dot = model.render(tmp_path / "net.svg")
    assert isinstance(dot, graphviz.Digraph)
    root = ET.parse(tmp_path / "net.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"add1", "concat1", "N×6", "theta[0:54]"} <= texts
    tg.render(model, tmp_path / "sub" / "net", format="png", rankdir="LR")
    png = (tmp_path / "sub" / "net.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    model.render(tmp_path / "net.pdf", format="pdf")
    assert (tmp_path / "net.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pdf", "net.svg", "sub"]
    with pytest.raises(ValueError, match="format"):
        model.render(tmp_path / "net.xyz", format="xyz")


@needs_dot
def test_jupyter_display_is_the_svg():
    bundle = course_net()._repr_mimebundle_()
    assert ET.fromstring(bundle["image/svg+xml"].encode()).tag.endswith("svg")
    assert bundle["text/plain"] == repr(course_net())
    assert set(mimebundle(course_net(), include={"text/plain"})) == {"text/plain"}


def test_missing_dot_gives_a_clear_error(tmp_path, monkeypatch):
    model = course_net()
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `dot` anywhere
    assert shutil.which("dot") is None
    with pytest.raises(DotNotFoundError, match="apt-get install graphviz") as info:
        model.render(tmp_path / "net.png", format="png")
    assert info.value.source == model.to_graphviz().source  # the DOT text survives the error
    assert info.value.source.startswith("digraph Sequential {")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert isinstance(info.value, RuntimeError) and not (tmp_path / "net.png").exists()
    bundle = model._repr_mimebundle_()  # a notebook still shows something
    assert "image/svg+xml" not in bundle and "apt-get install graphviz" in bundle["text/plain"]


def test_missing_dot_raised_by_the_graphviz_backend(tmp_path, monkeypatch):
    def no_dot(cmd, **kwargs):
        raise graphviz.ExecutableNotFound(cmd)

    monkeypatch.setattr(graphviz.backend.execute, "run_check", no_dot)
    with pytest.raises(DotNotFoundError, match="`dot`.*apt-get install graphviz"):
        tg.render(skip_graph(), tmp_path / "g.svg")


def test_state_sizes_are_shown_apart_from_parameters():
    model = tg.Sequential([tg.Dense(8), tg.BatchNorm(), tg.Tanh(), tg.Dense(2), tg.Softmax(), tg.CrossEntropy()],
                          n_features=3)
    source = model.to_graphviz().source
    assert "Sequential: 66 parameters + 16 state values (float64)" in source
    assert "state: running_mean, running_var\\n16 values (not trained), state[0:16]" in source
    from tinygraph.render import summary

    text = summary(model)
    assert "state (running statistics, not trained): 16 values" in text
    row = next(line for line in text.splitlines() if line.startswith("batchnorm1"))
    assert row.split()[-1] == "16"


def test_conv_nets_show_image_shapes_geometry_and_parameter_counts():
    model = tg.Sequential([tg.Conv2D(20, 5), tg.MaxPool2D(2), tg.Conv2D(8, 3, stride=2, padding=1), tg.Flatten(),
                           tg.Dense(10), tg.Softmax(), tg.CrossEntropy()], input_shape=(1, 28, 28))
    source = model.to_graphviz().source
    assert 'n1 [label="conv2d1\\nConv2D\\n20@5×5, stride 1\\n→ 20×24×24\\nW: 20×1×5×5, b: 20\\n520 params' in source
    assert "MaxPool2D\\n2×2 windows, stride 2\\n→ 20×12×12" in source
    assert "8@3×3, stride 2, padding 1\\n→ 8×6×6" in source
    assert 'n1 -> n2 [label="N×20×24×24"]' in source and 'n3 -> n4 [label="N×8×6×6"]' in source
    rows = {line.split()[0]: line for line in summary(model).splitlines()[4:-2]}
    assert rows["conv2d1"].split()[1:6] == ["Conv2D", "20@5×5,", "stride", "1", "N×20×24×24"]
    assert rows["conv2d1"].split()[6] == "520" and rows["conv2d2"].split()[-3] == f"{8 * 20 * 9 + 8:,}"
    assert "N×288" in rows["flatten1"]


@needs_dot
def test_the_suffix_decides_the_format(tmp_path):
    model = course_net()
    model.render(tmp_path / "net.png")
    assert (tmp_path / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tg.render(model, tmp_path / "net.PDF")
    assert (tmp_path / "net.PDF").read_bytes()[:5] == b"%PDF-"
    model.render(tmp_path / "net.svg", format="svg")  # agreeing: fine
    assert ET.parse(tmp_path / "net.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    model.render(tmp_path / "plain")  # no suffix: svg, and the suffix added
    assert ET.parse(tmp_path / "plain.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_a_suffix_that_contradicts_format_is_an_error(tmp_path):
    model = course_net()
    with pytest.raises(ValueError, match=r"x\.svg.*'png'.*suffix"):
        model.render(tmp_path / "x.svg", format="png")
    with pytest.raises(ValueError, match=r"format.*suffix '\.v1'"):
        tg.render(model, tmp_path / "net.v1")
    assert not list(tmp_path.iterdir())
