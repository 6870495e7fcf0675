"""Full-batch L-BFGS-B over a Dask cluster: 784-256-10 on a million MNIST-shaped rows.
===================================================================================

The rows never exist in this process: each worker draws its partitions with ``dask.array.random``
(pixels uniform in [0, 1), float32) and labels them with a fixed random linear "teacher"
(y = argmax(x·T), so there is something to learn). ``tg.dask.objective`` validates and keeps the
partitions on the workers; every L-BFGS-B evaluation sends theta out and brings one gradient back.
Per evaluation we print the wall time split into compute (the busiest worker's time inside
``loss_and_grad``) and communication (everything else: sending theta, moving gradients through the
reduction tree, scheduling).

Run on a local cluster:      python examples/dask_lbfgs.py
On a real cluster:           python examples/dask_lbfgs.py --scheduler scheduler-address:8786
(smaller: ``--rows 100000``; see ``--help``.)
"""
import argparse
import time

import numpy as np

import tinygraph as tg


def synthetic_mnist(n_rows, chunk_rows, seed=0):
    """Lazy (X, y): X (n_rows, 784) float32 in [0, 1), y (n_rows,) labels 0..9, chunked by rows."""
    import dask.array as da

    X = da.random.default_rng(seed).random((n_rows, 784), chunks=(chunk_rows, 784), dtype=np.float32)
    teacher = np.random.default_rng(seed + 1).normal(size=(784, 10)).astype(np.float32)
    y = (X @ teacher).argmax(axis=1)
    return X, y


def main(n_rows=1_000_000, hidden=256, chunk_rows=50_000, maxiter=5, n_workers=2, scheduler=None,
         random_state=0):
    from distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler)
    try:
        workers = len(client.scheduler_info()["workers"])
        model = tg.Sequential([tg.Dense(784, hidden), tg.ReLU(), tg.Dense(hidden, 10), tg.Softmax(),
                               tg.CrossEntropy()], l2=1e-4, dtype=np.float32, random_state=random_state)
        X, y = synthetic_mnist(n_rows, chunk_rows, seed=random_state)
        t0 = time.perf_counter()
        with tg.dask.objective(model, X, y, client=client) as fun:
            setup = time.perf_counter() - t0
            loss0 = fun(model.theta)[0]
            res = tg.minimize(fun, model.theta, method="L-BFGS-B", maxiter=maxiter)
            model.theta[:] = res.x
            n, t = fun.n_evaluations, fun.timings
        theta_mb = model.theta.nbytes / 1e6
        per = {k: v / n for k, v in t.items()}
        print(f"784-{hidden}-10 float32 ({model.n_params} parameters, {theta_mb:.2f} MB), {n_rows} rows "
              f"in {fun.n_partitions} partitions on {workers} workers")
        print(f"generate + validate + persist on the workers: {setup:.2f} s")
        print(f"loss {loss0:.4f} -> {res.fun:.4f} after {res.nit} L-BFGS-B iterations, {n} evaluations")
        print(f"per evaluation: {per['wall']:.3f} s = compute {per['compute']:.3f} s "
              f"+ communication {per['communication']:.3f} s "
              f"(theta out and one gradient back per worker: 2 x {theta_mb:.2f} MB x {workers} "
              f"= {2 * theta_mb * workers:.1f} MB)")
        return {"loss0": loss0, "loss": float(res.fun), "nit": int(res.nit), "n_evaluations": n,
                "setup": setup, **{f"{k}_per_eval": v for k, v in per.items()}}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--chunk-rows", type=int, default=50_000)
    p.add_argument("--maxiter", type=int, default=5)
    p.add_argument("--workers", type=int, default=2, help="local cluster size")
    p.add_argument("--scheduler", default=None, help="address of a running scheduler, host:8786")
    a = p.parse_args()
    main(a.rows, a.hidden, a.chunk_rows, a.maxiter, a.workers, a.scheduler)
