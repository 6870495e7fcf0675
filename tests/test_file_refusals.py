"""Files no saver writes are refused before they cost memory or predict wrong: statistics declared but
missing, a negative running variance, compressed members, non-finite JSON numbers."""
import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.io import format as fileformat

FormatError = fileformat.FormatError


def _bn_file(tmp_path):
    model = tg.Sequential([tg.Dense(3, 4), tg.BatchNorm(), tg.Dense(4, 1), tg.Identity(), tg.MeanSquaredError()],
                          random_state=0)
    model.recompute_state(np.random.default_rng(0).normal(size=(20, 3)))
    return model, model.save(tmp_path / "bn.npz")


def _repack(path, drop=(), compress=False, header_text=None, **arrays):
    """Re-pack a saved file: members dropped or replaced (digests updated), optionally compressed."""
    with np.load(path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    header = json.loads(members["header"].tobytes())
    for name in drop:
        members.pop(name)
        header["arrays"].pop(name)
    for name, a in arrays.items():
        members[name] = a
        header["arrays"][name] = fileformat._digest(a)
    text = json.dumps(header) if header_text is None else header_text(header)
    members["header"] = np.frombuffer(text.encode(), dtype=np.uint8)
    (np.savez_compressed if compress else np.savez)(path, **members)


def test_declared_statistics_without_a_state_member_are_refused(tmp_path):
    _, path = _bn_file(tmp_path)
    _repack(path, drop=("state",))
    with pytest.raises(FormatError, match="declare 8 running statistics but the file has no state"):
        tg.load(path)


def test_a_negative_running_variance_is_refused(tmp_path):
    model, path = _bn_file(tmp_path)
    state = model.state.copy()
    state[-1] = -0.5  # running_var of the last channel
    _repack(path, state=state)
    with pytest.raises(FormatError, match="node .batchnorm1. has a negative running_var"):
        tg.load(path)


def test_compressed_members_are_refused_before_decompressing(tmp_path):
    _, path = _bn_file(tmp_path)
    _repack(path, compress=True)
    with zipfile.ZipFile(path) as zf:
        assert any(i.compress_type != zipfile.ZIP_STORED for i in zf.infolist())
    with pytest.raises(FormatError, match="compressed"):
        tg.load(path)


def test_a_compressed_bomb_is_refused_at_the_cost_of_its_directory(tmp_path):
    # a declared extra array of 64 MiB of zeros deflates to ~64 KiB: refused without inflating it
    _, path = _bn_file(tmp_path)
    _repack(path, compress=True, **{"arrays/big": np.zeros(8 << 20)})
    assert os.path.getsize(path) < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="compressed"):
            tg.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
def test_non_finite_json_numbers_are_named(tmp_path, constant):
    _, path = _bn_file(tmp_path)

    def poison(header):
        header["model"]["nodes"][1]["config"]["n_out"] = "@@"
        return json.dumps(header).replace('"@@"', constant)
    _repack(path, header_text=poison)
    with pytest.raises(FormatError, match=r"does not rebuild at node 'dense1' \((Overflow|Value)Error: cannot "
                                          r"convert float (infinity|NaN) to integer\)") as e:
        tg.load(path)
    assert "truncated" not in str(e.value)


def test_a_saved_file_still_loads(tmp_path):
    model, path = _bn_file(tmp_path)
    loaded = tg.load(path)
    np.testing.assert_array_equal(loaded.state, model.state)
