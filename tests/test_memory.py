"""Steady-state training allocates nothing that grows: tracemalloc over 100 steps (numpy reports its
array allocations to tracemalloc). No timings here: memory only."""
import tracemalloc

import numpy as np
import pytest

import tinygraph as tg


def mlp(l2=0.0, dtype=np.float64):
    # W1 (64×256) is larger than numpy's ufunc buffer: a W-sized temporary per step would show.
    return tg.Sequential([tg.Dense(64, 256), tg.ReLU(), tg.Dense(256, 32), tg.Tanh(), tg.Dense(32, 10),
                          tg.Softmax(), tg.CrossEntropy()], l2=l2, dtype=dtype, random_state=0)


def data(n=2000, dtype=np.float64):
    rng = np.random.default_rng(0)
    return rng.random((n, 64)).astype(dtype), rng.integers(0, 10, n)


def traced(fn):
    """(memory still held after fn, peak during fn), in bytes above the start."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - base, peak - base


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("l2", [0.0, 1e-3])
def test_steady_state_steps_allocate_no_arrays(dtype, l2):
    model, (X, y) = mlp(l2, dtype), data(dtype=dtype)
    opt = tg.optim.Adam(1e-3)
    order = np.random.default_rng(0).permutation(X.shape[0])

    def run(batch, k):
        Xb, yb = np.empty((batch, 64), dtype), np.empty(batch, y.dtype)
        batches = np.resize(order, (k, batch))  # k shuffled batches, cycling through the rows

        def steps(n=k):
            for idx in batches[:n]:
                X.take(idx, axis=0, out=Xb, mode="clip")  # the gather, into a buffer (as fit does)
                y.take(idx, out=yb, mode="clip")
                _, g = model.loss_and_grad(model.theta, Xb, yb, check_input=False, out=model.grad)
                opt.step(model.theta, g)
        steps(3)  # node buffers, the optimizer's state and the scratch arrays exist from here on
        return traced(steps)

    for batch in (200, 800):
        with tg.blas_threads(1):  # BLAS threads spinning on a shared machine only make this slow
            held, peak = run(batch, 100)
        # numpy keeps a small cache of freed small blocks (traced as held): bounded, far below a batch.
        assert held < 16384, f"{held} bytes still held after 100 steps"
        # Inside a step only numpy's own ufunc buffer (broadcast bias, bool→float mask casts; at most
        # bufsize elements) and a few N-vectors of the loss come and go: nothing that grows with the batch.
        limit = np.getbufsize() * np.dtype(dtype).itemsize + 24 * batch + 16384
        assert peak < limit, f"batch {batch}: a step allocated {peak} bytes (limit {limit})"


def test_fit_memory_does_not_grow_with_the_number_of_steps():
    X, y = data()
    model = mlp(1e-3)
    tg.fit(model, X[:200], y[:200], tg.optim.Adam(1e-3), batch_size=100, epochs=1, threads=1)  # node buffers

    def fit(steps):
        return traced(lambda: tg.fit(model, X, y, tg.optim.Adam(1e-3), batch_size=100, maxiter=steps,
                                     random_state=0, threads=1))
    (_, peak_short), (_, peak_long) = fit(20), fit(120)
    # The history keeps two floats per step; everything else is allocated once per fit.
    per_step = (peak_long - peak_short) / 100
    assert per_step < 200, f"{per_step:.0f} bytes more peak memory per step"
    # The peak is the optimizer's state (m, v and a step: 3 × theta), the shuffle order, the batch
    # buffers and numpy's ufunc buffer: no copy of X (2000 × 64 here) or of anything its size.
    theta_bytes, x_bytes = model.theta.nbytes, X.nbytes
    assert peak_long < 3 * theta_bytes + x_bytes / 2, (peak_long, theta_bytes, x_bytes)


def test_fit_does_not_copy_or_mask_the_data():
    # The finite check of X used to build an N×D boolean array: the largest allocation of a fit.
    X, y = data(20000, np.float32)
    model = mlp(dtype=np.float32)
    tg.fit(model, X[:500], y[:500], tg.optim.SGD(0.01), batch_size=500, epochs=1, threads=1)  # node buffers
    _, peak = traced(lambda: tg.fit(model, X, y, tg.optim.SGD(0.01), batch_size=500, maxiter=5, threads=1))
    # What remains: the shuffle order (two N-vectors of indices) and the batch buffers.
    assert peak < X.nbytes / 4, f"fit allocated {peak} bytes for data of {X.nbytes} bytes"


def test_row_blocks_on_threads_hold_nothing_between_calls():
    X, y = data()
    model = mlp(1e-3)
    grad = np.empty_like(model.theta)

    def calls(n=100):
        for _ in range(n):
            model.loss_and_grad(model.theta, X, y, check_input=False, out=grad, n_jobs=2)
    with tg.blas_threads(1):
        calls(3)  # the replicas, their buffers and the threads exist from here on
        held, peak = traced(calls)
    assert held < 16384, f"{held} bytes still held after 100 calls"
    # Inside a call, as in one step above but once per thread: numpy's ufunc buffer, a few N-vectors
    # of the loss, the block bounds and the futures; no copy of X and no block's activations.
    limit = 2 * np.getbufsize() * X.itemsize + 24 * X.shape[0] + 16384
    assert peak < limit, f"a call allocated {peak} bytes (limit {limit})"
    assert peak < X.nbytes / 4
