"""Optimizers step large thetas block by block (tinygraph/optimizer.py, _BLOCK_BYTES): same bits as one
whole-array pass, for every rule, through copies and pickles, with frozen entries."""
import copy
import pickle

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.optim import optimizer
from tinygraph.parallel import pool, threads

RULES = [
    lambda: tg.optim.SGD(0.1),
    lambda: tg.optim.SGD(0.1, momentum=0.9, nesterov=True, decay=0.01),
    lambda: tg.optim.AdaGrad(0.1),
    lambda: tg.optim.RMSProp(0.01),
    lambda: tg.optim.Adadelta(),
    lambda: tg.optim.Adam(0.01),
    lambda: tg.optim.AdamW(0.01, weight_decay=0.1),
    lambda: tg.optim.Rprop(0.01),
]


def _run(make, block_bytes, monkeypatch, dtype=np.float64, steps=6, mask=None, roundtrip=None):
    monkeypatch.setattr(optimizer, "_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(optimizer, "_SPLIT_BYTES", 0)
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(1003).astype(dtype)  # not a multiple of the block size
    grads = rng.standard_normal((steps, theta.size)).astype(dtype)
    opt = make()
    opt.freeze(mask)
    for i, g in enumerate(grads):
        if roundtrip is not None and i == steps // 2:
            opt = roundtrip(opt)
        opt.step(theta, g.copy())
    return theta, opt.get_state()


@pytest.mark.parametrize("make", RULES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [1, 3])  # 3: the blocks' runs are spread over threads
def test_blocks_give_the_whole_array_step(make, dtype, n_threads, monkeypatch):
    theta, state = _run(make, 1 << 40, monkeypatch, dtype)
    monkeypatch.setattr(threads, "limit", n_threads)
    monkeypatch.setattr(pool, "_CPUS", 3)
    theta_b, state_b = _run(make, 64 * np.dtype(dtype).itemsize, monkeypatch, dtype)  # 16 blocks
    np.testing.assert_array_equal(theta_b, theta)
    assert state_b.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(state_b[key], state[key])


@pytest.mark.parametrize("roundtrip", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))])
def test_a_copy_steps_its_own_state(roundtrip, monkeypatch):
    make = RULES[5]
    theta, state = _run(make, 1 << 40, monkeypatch)
    theta_b, state_b = _run(make, 512, monkeypatch, roundtrip=roundtrip)
    np.testing.assert_array_equal(theta_b, theta)
    np.testing.assert_array_equal(state_b["m"], state["m"])


def test_frozen_entries_stay_put_with_small_blocks(monkeypatch):
    mask = np.arange(1003) % 3 != 0
    theta0 = np.random.default_rng(0).standard_normal(1003)
    theta, _ = _run(RULES[5], 512, monkeypatch, mask=mask)
    np.testing.assert_array_equal(theta[~mask], theta0[~mask])
    assert np.all(theta[mask] != theta0[mask])


def test_a_non_finite_gradient_in_a_late_block_leaves_theta_and_state(monkeypatch):
    monkeypatch.setattr(optimizer, "_BLOCK_BYTES", 512)
    monkeypatch.setattr(optimizer, "_SPLIT_BYTES", 0)
    theta = np.ones(1003)
    opt = tg.optim.Adam(0.1)
    opt.step(theta, np.ones(1003))
    before, state = theta.copy(), opt.get_state()
    g = np.ones(1003)
    g[-1] = np.inf
    with pytest.raises(tg.NonFiniteError):
        opt.step(theta, g)
    np.testing.assert_array_equal(theta, before)
    np.testing.assert_array_equal(opt.m, state["m"])
