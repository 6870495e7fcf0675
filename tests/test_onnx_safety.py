"""tg.from_onnx on crafted or foreign files: clear errors naming the op, attribute or tensor, and no
allocation a small file did not pay for (sizes are checked against the file before arrays exist)."""
import tracemalloc

import numpy as np
import pytest

import tinygraph as tg

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
from onnx import TensorProto, helper, numpy_helper

from tinygraph.io.onnx import OnnxImportError


def model_of(nodes, initializers=(), inputs=(("x", [None, 4]),), output=("y", [None, 3]), opset=20):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(output[0], TensorProto.FLOAT, output[1])], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def gemm_model():
    W = numpy_helper.from_array(np.ones((3, 4), np.float32), "W")
    b = numpy_helper.from_array(np.zeros(3, np.float32), "b")
    return model_of([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], [W, b])


def test_a_well_formed_model_reads(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(gemm_model().SerializeToString())
    model = tg.from_onnx(path)
    assert model.forward(np.ones((2, 4), np.float32)).tolist() == [[4.0] * 3] * 2


def test_truncated_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(gemm_model().SerializeToString()[:-7])
    with pytest.raises(OnnxImportError, match="not a readable ONNX model"):
        tg.from_onnx(path)


def test_declared_size_beyond_the_file_is_refused_before_allocating():
    m = gemm_model()
    m.graph.initializer[0].dims[:] = [1 << 20, 1 << 20]  # 4 TB declared, 48 bytes held
    tracemalloc.start()
    with pytest.raises(OnnxImportError, match=r"initializer 'W'.*declares shape \[1048576, 1048576\]"):
        tg.from_onnx(m.SerializeToString())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 << 20
    m = gemm_model()
    t = m.graph.initializer[1]
    t.ClearField("raw_data")
    t.float_data[:] = [1.0]  # 3 declared, 1 held
    with pytest.raises(OnnxImportError, match=r"tensor 'b' declares shape \[3\] \(12 bytes\) but holds 4"):
        tg.from_onnx(m.SerializeToString())


def test_external_data_only_beside_the_model(tmp_path):
    m = gemm_model()
    raw = np.ones((3, 4), np.float32).tobytes()
    (tmp_path / "w.bin").write_bytes(raw)
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL

    def point(location, offset=0, length=48):
        del t.external_data[:]
        for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
            t.external_data.add(key=k, value=v)
        (tmp_path / "m.onnx").write_bytes(m.SerializeToString())
        return tmp_path / "m.onnx"

    assert tg.from_onnx(point("w.bin")).forward(np.ones((1, 4), np.float32)).tolist() == [[4.0] * 3]
    for bad in ("../w.bin", "/etc/passwd", "sub/../../w.bin", "missing.bin"):
        with pytest.raises(OnnxImportError, match="only a file in the model's own directory is read"):
            tg.from_onnx(point(bad))
    with pytest.raises(OnnxImportError, match=r"declares 48 bytes at offset 8 .* which holds 48 bytes"):
        tg.from_onnx(point("w.bin", offset=8))
    with pytest.raises(OnnxImportError, match="pass the model's path"):
        tg.from_onnx(point("w.bin").read_bytes())


def test_unknown_op_and_attribute_are_named():
    m = gemm_model()
    m.graph.node.append(helper.make_node("Sin", ["y"], ["z"]))
    m.graph.output[0].name = "z"
    with pytest.raises(OnnxImportError, match=r"Sin at position 1: the op 'Sin' has no tinygraph counterpart"):
        tg.from_onnx(m)
    W = numpy_helper.from_array(np.ones((4, 2, 3, 3), np.float32), "W")
    conv = model_of([helper.make_node("Conv", ["x", "W"], ["y"], group=2)], [W], inputs=(("x", [None, 4, 5, 5]),),
                    output=("y", [None, 4, 3, 3]))
    with pytest.raises(OnnxImportError, match=r"Conv at position 0: attribute group=2 is not supported"):
        tg.from_onnx(conv)
    lstm = model_of([helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
                     helper.make_node("LSTM", ["t", "W", "R"], ["y"], hidden_size=2, direction="bidirectional")],
                    [numpy_helper.from_array(np.ones((1, 8, 4), np.float32), "W"),
                     numpy_helper.from_array(np.ones((1, 8, 2), np.float32), "R")], inputs=(("x", [None, 3, 4]),))
    with pytest.raises(OnnxImportError, match=r"LSTM at position 1: attribute direction='bidirectional'"):
        tg.from_onnx(lstm)
    other = gemm_model()
    other.graph.node[0].domain = "com.example"
    other.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(OnnxImportError, match="operators of domain 'com.example' are not read"):
        tg.from_onnx(other)


def test_batch_sized_constants_are_never_allocated():
    """ConstantOfShape of (N, 2**30) stays a zero-stride view; computing on it is refused by name."""
    shape = numpy_helper.from_array(np.array([1, 1 << 30], np.int64), "shape")
    m = model_of([helper.make_node("ConstantOfShape", ["shape"], ["c"]),
                  helper.make_node("Add", ["c", "c"], ["d"]),
                  helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)],
                 [shape, *gemm_model().graph.initializer])
    tracemalloc.start()
    with pytest.raises(OnnxImportError, match=r"Add at position 1: computes on a constant of shape \(1, 1073741824\)"):
        tg.from_onnx(m)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 << 20


def test_shapes_tinygraph_cannot_follow():
    W = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    t = model_of([helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
                  helper.make_node("MatMul", ["t", "W"], ["y"])], [W])
    with pytest.raises(OnnxImportError, match="MatMul at position 1: its input has its axes permuted"):
        tg.from_onnx(t)
    no_shape = model_of([helper.make_node("Relu", ["x"], ["y"])], inputs=(("x", [None, None]),),
                        output=("y", [None, None]))
    with pytest.raises(OnnxImportError, match=r"input 'x' has shape \[None, None\].*pass input_shape="):
        tg.from_onnx(no_shape)
    assert tg.from_onnx(no_shape, input_shape=(5,)).input.shape == (5,)
