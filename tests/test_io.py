"""Saving and loading: exact round trips, atomic writes, clear errors on bad files."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygraph as tg
from tinygraph import io


def skip_graph(dtype=np.float64, l2=0.3):
    x = tg.Input(5)
    h1 = tg.Tanh()(tg.Dense(5, 8)(x))
    h2 = tg.ReLU()(tg.Dense(8, 8, init="he", name="inner")(h1))
    out = tg.Softmax()(tg.Dense(16, 3)(tg.Concat()(h1, tg.Add()(h1, h2))))
    return tg.Graph(x, tg.CrossEntropy()(out), l2=l2, init="uniform", dtype=dtype, random_state=3)


def chain():
    return tg.Sequential([tg.Dense(5, 4), tg.Sigmoid(), tg.Dense(4, 2), tg.Sigmoid(), tg.CrossEntropy()],
                         l2=1.0, random_state=0)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((11, 5)), rng.integers(0, 2, 11)


@pytest.mark.parametrize("make", [chain, skip_graph, lambda: skip_graph(np.float32, 0.0)])
def test_round_trip_is_bit_for_bit(tmp_path, data, make):
    X, y = data
    model = make()
    model.theta += 0.01 * np.arange(model.n_params)  # not the initial draw: theta must come from the file
    path = model.save(tmp_path / "m.npz")
    loaded = tg.load(path)
    assert type(loaded) is type(model)
    assert (loaded.l2, loaded.dtype, loaded.init_name) == (model.l2, model.dtype, model.init_name)
    assert [repr(n) for n in loaded.nodes] == [repr(n) for n in model.nodes]
    assert [(a.name, b.name) for a, b in loaded.edges] == [(a.name, b.name) for a, b in model.edges]
    assert loaded.theta.tobytes() == model.theta.tobytes()
    assert loaded.forward(X).tobytes() == model.forward(X).tobytes()
    l0, g0 = model.loss_and_grad(model.theta, X, y)
    l1, g1 = loaded.loss_and_grad(loaded.theta, X, y)
    assert l0 == l1 and g0.tobytes() == g1.tobytes()
    # The rebuilt model keeps its options: re-initialising draws what the original draws.
    assert np.array_equal(loaded.initialize(5).theta, model.initialize(5).theta)


def test_regression_model_and_frozen_node(tmp_path):
    model = tg.Sequential([tg.Dense(3, 4, trainable=False), tg.Tanh(), tg.Dense(4, 1), tg.MeanSquaredError()],
                          random_state=1)
    loaded = tg.load(model.save(tmp_path / "r.npz"))
    assert np.array_equal(loaded.trainable_mask, model.trainable_mask)
    X = np.linspace(-1, 1, 12).reshape(4, 3)
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_meta_and_arrays_travel_with_the_model(tmp_path):
    model = chain()
    classes = np.array(["cat", "dog"])
    io.save(model, tmp_path / "e.npz", meta={"estimator": "X", "params": {"alpha": 0.5, "n": [1, 2]}},
            arrays={"classes_": classes, "mean": np.arange(5.0)})
    saved = io.read(tmp_path / "e.npz")
    assert saved.meta == {"estimator": "X", "params": {"alpha": 0.5, "n": [1, 2]}}
    assert np.array_equal(saved.arrays["classes_"], classes) and saved.arrays["mean"].dtype == np.float64
    with pytest.raises(TypeError, match="'bad'.*dtype object"):
        io.save(model, tmp_path / "f.npz", arrays={"bad": np.array([None, 1])})
    with pytest.raises(TypeError, match="meta must hold JSON types"):
        io.save(model, tmp_path / "f.npz", meta={"f": object()})
    assert not os.path.exists(tmp_path / "f.npz")


class Scale(tg.Node):
    """y = c x: a user node with a constructor argument that get_config must carry."""

    def __init__(self, c: float, *, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self.c = c

    def forward(self, x):
        return self.c * x

    def backward(self, dy):
        return self.c * dy

    def get_config(self):
        return {"c": self.c, **super().get_config()}


def test_user_nodes_must_register(tmp_path, monkeypatch):
    def make():
        return tg.Sequential([tg.Dense(2, 3), Scale(2.5), tg.Sigmoid(), tg.CrossEntropy()], random_state=0)

    with pytest.raises(TypeError, match=r"'scale1' is a Scale, which is not registered.*register_node"):
        make().save(tmp_path / "u.npz")
    monkeypatch.setitem(io.format._NODES, "Scale", Scale)
    assert tg.register_node(Scale) is Scale  # registering again is harmless
    model = make()
    loaded = tg.load(model.save(tmp_path / "u.npz"))
    assert loaded["scale1"].c == 2.5
    X = np.array([[0.5, -1.0], [2.0, 0.1]])
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    monkeypatch.delitem(io.format._NODES, "Scale")
    with pytest.raises(io.FormatError, match=r"u\.npz: node type 'Scale' is not registered"):
        tg.load(tmp_path / "u.npz")


def test_register_node_refuses_a_second_class_of_the_same_name():
    class Dense(tg.Node):
        pass

    with pytest.raises(ValueError, match="'Dense' is taken by tinygraph.nodes.dense.Dense"):
        tg.register_node(Dense)
    with pytest.raises(TypeError, match="expects a Node subclass"):
        tg.register_node(int)


def test_incomplete_get_config_is_caught_at_load(tmp_path, monkeypatch):
    class Widen(tg.Dense):  # forgets to save n_out correctly
        def get_config(self):
            return {**super().get_config(), "n_out": 1}

    monkeypatch.setitem(io.format._NODES, "Widen", Widen)
    model = tg.Sequential([Widen(2, 3), tg.Sigmoid(), tg.CrossEntropy()], random_state=0)
    model.save(tmp_path / "w.npz")
    with pytest.raises(io.FormatError, match=r"w\.npz: node 'widen1' rebuilds .* get_config"):
        tg.load(tmp_path / "w.npz")


def test_callable_init_warns_that_it_is_not_saved(tmp_path):
    model = tg.Sequential([tg.Dense(2, 1, init=tg.initializers.he), tg.Sigmoid(), tg.CrossEntropy()])
    with pytest.warns(UserWarning, match="'dense1' has a callable init"):
        model.save(tmp_path / "c.npz")


def failing_savez(real):
    def savez(f, **arrays):
        real(f, **arrays)
        f.truncate(f.tell() // 2)  # half the archive reached the disk, then the process died
        raise OSError("disk full")
    return savez


@pytest.mark.parametrize("fail", ["savez", "fsync", "replace", "interrupt"])
def test_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch, data, fail):
    old = chain()
    path = old.save(tmp_path / "m.npz")
    before = Path(path).read_bytes()
    new = chain()
    new.theta += 1.0
    if fail == "savez":
        monkeypatch.setattr(np, "savez", failing_savez(np.savez))
    elif fail == "interrupt":
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr(np, "savez", interrupted)
    else:
        def broken(*args):
            raise OSError(f"{fail} failed")
        monkeypatch.setattr(os, fail, broken)
    with pytest.raises((OSError, KeyboardInterrupt)):
        new.save(path)
    monkeypatch.undo()
    assert Path(path).read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind
    assert np.array_equal(tg.load(path).theta, old.theta)


def test_missing_directory_and_directory_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="the directory .*nowhere does not exist"):
        chain().save(tmp_path / "nowhere" / "m.npz")
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        chain().save(tmp_path / "d.npz")
    assert sorted(os.listdir(tmp_path)) == ["d.npz"]


def test_non_finite_theta_is_never_written(tmp_path):
    model = chain()
    path = model.save(tmp_path / "m.npz")
    model.theta[2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf; not writing"):
        model.save(path)
    assert np.isfinite(tg.load(path).theta).all()


def rewrite(path, **changes):
    """Re-pack a saved file with some members replaced (bytes members given as str are JSON headers)."""
    with np.load(path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    header = json.loads(members["header"].tobytes())
    header.update(changes)
    members["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **members)


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"hello, I am a text file\n", r"not a tinygraph file \(not an .npz archive\)"),
    (b"\x93NUMPY" + bytes(100), r"not a tinygraph file \(a single .npy array"),
], ids=["empty", "text", "npy"])
def test_foreign_files(tmp_path, content, message):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(io.FormatError, match=f"x.npz: {message}"):
        tg.load(path)


def test_other_npz_files_and_pickles_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(io.FormatError, match=r"plain.npz: an .npz archive but not a tinygraph file"):
        tg.load(tmp_path / "plain.npz")
    np.savez(tmp_path / "pickle.npz", header=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(io.FormatError, match=r"pickle.npz: .*allow_pickle=False"):
        tg.load(tmp_path / "pickle.npz")
    path = chain().save(tmp_path / "other.npz")
    rewrite(path, format="someone-else")
    with pytest.raises(io.FormatError, match="other.npz: not a tinygraph file .format 'someone-else'"):
        tg.load(path)


def test_newer_version_is_refused_with_upgrade_advice(tmp_path):
    path = chain().save(tmp_path / "new.npz")
    rewrite(path, version=io.VERSION + 1)
    with pytest.raises(io.FormatError, match=r"new.npz: written by a newer tinygraph .format version 2.*upgrade"):
        tg.load(path)


def test_tampered_theta_fails_its_checksum(tmp_path):
    path = chain().save(tmp_path / "t.npz")
    with np.load(path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    members["theta"][0] += 1e-12
    np.savez(path, **members)  # a valid zip with a consistent CRC, but not what was saved
    with pytest.raises(io.FormatError, match=r"t.npz: corrupted \(checksum mismatch in 'theta'\)"):
        tg.load(path)


@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory):
    path = skip_graph().save(tmp_path_factory.mktemp("saved") / "m.npz")
    return path, Path(path).read_bytes()


@settings(max_examples=60, deadline=None)
@given(cut=st.floats(0.0, 0.999))
def test_every_truncation_is_reported(saved_bytes, tmp_path_factory, cut):
    _, raw = saved_bytes
    bad = tmp_path_factory.mktemp("cut") / "m.npz"
    bad.write_bytes(raw[:int(cut * len(raw))])
    with pytest.raises(io.FormatError, match="m.npz: (the file is empty|truncated)"):
        tg.load(bad)


@settings(max_examples=80, deadline=None)
@given(where=st.floats(0.0, 0.999), flip=st.integers(1, 255))
def test_a_corrupted_byte_is_reported_or_harmless(saved_bytes, tmp_path_factory, where, flip):
    """Flipping any byte gives a FormatError, or (in zip fields nobody reads) the very same model."""
    path, raw = saved_bytes
    data = bytearray(raw)
    data[int(where * len(data))] ^= flip
    bad = tmp_path_factory.mktemp("flip") / "m.npz"
    bad.write_bytes(bytes(data))
    try:
        model = tg.load(bad)
    except io.FormatError as e:
        assert str(e).startswith(str(bad))
    else:
        original = tg.load(path)
        assert model.theta.tobytes() == original.theta.tobytes()
        assert [repr(n) for n in model.nodes] == [repr(n) for n in original.nodes]


def test_a_header_that_does_not_match_theta_is_refused_before_building(tmp_path):
    path = chain().save(tmp_path / "h.npz")
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(npz["header"].tobytes())
    header["model"]["nodes"][1]["config"]["n_out"] = 10 ** 12  # a crafted file: 8 TB of weights
    header["model"]["nodes"][1]["params"] = [["W", [5, 10 ** 12]], ["b", [10 ** 12]]]
    rewrite(path, model=header["model"])
    with pytest.raises(io.FormatError, match=rf"h.npz: the nodes declare \d+ parameters, theta has {chain().n_params}$"):
        tg.load(path)


CRASH = """
import numpy as np, os, sys
sys.path.insert(0, {tests!r})
from test_io import chain
real = np.savez
def savez(f, **arrays):
    real(f, **arrays)
    f.truncate(f.tell() // 2)
    f.flush()
    os._exit(3)  # the process dies mid-save: no except, no finally runs
np.savez = savez
model = chain()
model.theta += 1.0
model.save({path!r})
"""


def test_a_process_killed_mid_save_leaves_the_old_file(tmp_path):
    import subprocess
    import sys
    old = chain()
    path = str(old.save(tmp_path / "m.npz"))
    script = CRASH.format(tests=os.path.dirname(__file__), path=path)
    done = subprocess.run([sys.executable, "-c", script], cwd=os.path.dirname(os.path.dirname(__file__)),
                          check=False)
    assert done.returncode == 3
    assert tg.load(path).theta.tobytes() == old.theta.tobytes()
    leftovers = [f for f in os.listdir(tmp_path) if f != "m.npz"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".m.npz.")  # the dead writer's temporary file
