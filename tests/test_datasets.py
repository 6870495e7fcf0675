"""The IDX reader on the bundled MNIST and on files it writes itself, good and broken."""
import gzip

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.datasets import load_idx


def write_idx(path, array, code, compress=False):
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_bundled_mnist():
    X, y = tg.datasets.load_mnist()
    assert X.shape == (10000, 784) and X.dtype == np.float64 and y.shape == (10000,)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert y[:5].tolist() == [7, 2, 1, 0, 4]


@pytest.mark.parametrize("dtype,code", [(np.uint8, 0x08), (np.int16, 0x0B), (np.int32, 0x0C),
                                        (np.float32, 0x0D), (np.float64, 0x0E)])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, code, compress):
    a = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    write_idx(tmp_path / "a.idx", a, code, compress)
    b = load_idx(tmp_path / "a.idx")
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_load_mnist_any_pair(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / "img", images, 0x08)
    write_idx(tmp_path / "lab", np.arange(5, dtype=np.uint8), 0x08, compress=True)
    X, y = tg.datasets.load_mnist(tmp_path / "img", tmp_path / "lab")
    np.testing.assert_allclose(X, images.reshape(5, -1) / 255.0)
    assert y.tolist() == [0, 1, 2, 3, 4]


def test_broken_files_are_named(tmp_path):
    write_idx(tmp_path / "a", np.zeros((4, 4), np.uint8), 0x08)
    raw = (tmp_path / "a").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match=r"short: IDX shape \(4, 4\) needs 28 bytes, the file has 25"):
        load_idx(tmp_path / "short")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="text: not an IDX file"):
        load_idx(tmp_path / "text")
    (tmp_path / "gz").write_bytes(gzip.compress(raw)[:-8])
    with pytest.raises(ValueError, match="gz: not a readable gzip file"):
        load_idx(tmp_path / "gz")


def test_train_test_split_is_seeded():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    a = tg.datasets.train_test_split(X, y, test_size=3, random_state=0)
    b = tg.datasets.train_test_split(X, y, test_size=3, random_state=0)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert len(a[0]) == 7 and len(a[1]) == 3
    assert sorted(np.concatenate([a[2], a[3]]).tolist()) == list(range(10))


def test_bundled_tinyshakespeare():
    text = tg.datasets.load_tinyshakespeare()
    assert len(text) == 1_115_394 and len(set(text)) == 65
    assert text.startswith("First Citizen:")
