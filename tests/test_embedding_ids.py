"""Token ids that the model's dtype cannot hold, or that lie out of range, are refused by name."""
import warnings

import numpy as np
import pytest

import tinygraph as tg


@pytest.mark.parametrize(("bad", "dtype"), [(1e20, np.float64), (2 ** 63 - 1, np.int64), (-1, np.float64),
                                             (10, np.int64)])
def test_out_of_range_ids_are_called_out_of_range_without_a_cast_warning(bad, dtype):
    model = tg.Sequential([tg.Embedding(10, 4)], input_shape=(3,), random_state=0)
    X = np.array([[bad, 1, 2]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"embedding1: token ids must lie in \[0, 9\]"):
            model.forward(X)


def test_a_float32_model_refuses_a_vocabulary_it_cannot_index_exactly():
    node = tg.Embedding(2 ** 24 + 2, 1, name="emb")
    with pytest.raises(ValueError, match="emb: a float32 model holds token ids exactly only up to 16,777,216"):
        node.forward(np.array([[16_777_217, 0]], dtype=np.float32))
    # 2²⁴ + 1 tokens: ids 0 .. 2²⁴, all exact in float32
    small = tg.Sequential([tg.Embedding(2 ** 24 + 1, 1)], input_shape=(2,), dtype=np.float32, random_state=0)
    out = small.forward(np.array([[2 ** 24, 3]]))
    assert out[0, 0, 0] == small.nodes[1].W[2 ** 24, 0]


def test_an_id_rounded_by_the_float32_cast_is_out_of_range_and_says_why():
    model = tg.Sequential([tg.Embedding(10, 4)], input_shape=(3,), random_state=0, dtype=np.float32)
    with pytest.raises(ValueError, match="rounded: X is cast to the model's dtype, float32"):
        model.forward(np.array([[16_777_217, 1, 2]]))


def test_whole_numbers_are_still_checked():
    model = tg.Sequential([tg.Embedding(10, 4)], input_shape=(3,), random_state=0)
    with pytest.raises(ValueError, match="whole numbers"):
        model.forward(np.array([[1.5, 1, 2]]))
