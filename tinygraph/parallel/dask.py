"""Data-parallel loss and gradient on a Dask cluster: sums over row partitions.

The loss of a model is a (weighted) mean over rows, so it splits over row partitions k with
m_k rows (or sample-weight sum m_k) and M = Σ_k m_k:

    L(θ)  = Σ_k m_k·L_k(θ) / M  +  l2/(2M)·ΣW²
    ∇L(θ) = Σ_k m_k·∇L_k(θ) / M  +  l2/M·W

Each worker runs ``model.loss_and_grad(θ, X_k, y_k, regularize=False)`` on the partitions it
holds, and returns m_k·L_k and m_k·∇L_k; a tree of additions (partitions on the same worker first)
leaves one sum, and the client adds the l2 term once with ``model.penalty(M)``.

- ``objective(model, X, y)`` persists the validated partitions on the workers and ships the model
  to each worker once; each call ``fun(θ) -> (loss, grad)`` then moves θ to every worker and one
  gradient back per worker: about 2 × θ bytes × workers per evaluation, whatever the rows.
- ``fit(model, X, y, "L-BFGS-B")`` drives it with ``tg.minimize`` and writes the result into
  ``model.theta`` (``scipy.optimize.minimize(fun, x0, jac=True)`` works on it unchanged too). If the cluster loses data it cannot recompute, the evaluation raises
  ``ClusterError`` and the model keeps the last accepted iterate.
- ``batches(X, y, batch_size=...)`` streams minibatches for the minibatch optimizers, one partition
  at a time (see its docstring for the shuffling semantics).

Dask is imported lazily, so tinygraph imports without it (``pip install "tinygraph[dask]"``).
"""
from __future__ import annotations

import copy
import threading
import time
import weakref

import numpy as np

from ..validation import n_examples

__all__ = ["ClusterError", "Objective", "batches", "fit", "objective"]


class ClusterError(RuntimeError):
    """An evaluation failed on the cluster (data lost beyond Dask's retries, workers gone).

    A subclass of ``RuntimeError``, raised by ``Objective.__call__`` (after ``retries``) and by
    ``fit``, whose message then names the last accepted iteration, kept in ``model.theta``.

    Examples
    --------
    The example needs a Dask client and a failing cluster, so doctest skips it:

    >>> try:  # doctest: +SKIP
    ...     tg.dask.fit(model, X, y, timeout=60)
    ... except tg.dask.ClusterError as e:
    ...     print(e)  # the model keeps the last accepted theta
    """


def _dask():
    try:
        import dask.array as da
        import distributed
    except ImportError as e:  # pragma: no cover - the message is the point
        raise ImportError('tinygraph.dask needs Dask: pip install "dask[distributed]"') from e
    return da, distributed


def _client(client):
    _, distributed = _dask()
    if client is not None:
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError("tinygraph.dask: no Dask client; start one first, e.g. Client() for a local "
                         "cluster or Client('scheduler-address:8786')") from None


def _as_rows(a, name: str, ndim: tuple):
    """A dask array (from a dask array, DataFrame/Series or numpy array) with known row chunks."""
    da, _ = _dask()
    if hasattr(a, "to_dask_array"):  # Dask DataFrame or Series
        a = a.to_dask_array(lengths=True)
    if not isinstance(a, da.Array):
        a = np.asarray(a)
    if a.ndim not in ndim:
        allowed = f"{ndim[0]} or more" if isinstance(ndim, range) else " or ".join(map(str, ndim))
        raise ValueError(f"tinygraph.dask: {name} must have {allowed} dimensions, got shape {a.shape}")
    if isinstance(a, da.Array) and any(np.isnan(c) for c in a.chunks[0]):
        a = a.compute_chunk_sizes()
    return a


def _align(X, y, sample_weight):
    """X chunked by rows only; y and sample_weight chunked like X's rows."""
    da, _ = _dask()
    X = _as_rows(X, "X", range(2, 33))  # (N, features) or N-D: (N, C, H, W) images
    if not isinstance(X, da.Array):
        raise TypeError("tinygraph.dask: X must be a dask array or DataFrame (chunked by rows); "
                        "for a numpy array use model.loss_and_grad")
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})  # a row partition must hold whole rows
    rows = X.chunks[0]
    out = [X]
    for name, a in (("y", y), ("sample_weight", sample_weight)):
        if a is None:
            out.append(None)
            continue
        a = _as_rows(a, name, (1, 2, 3) if name == "y" else (1, 2))  # per-step targets: (N, T), (N, T, K)
        if a.shape[0] != X.shape[0]:
            raise ValueError(f"tinygraph.dask: X has {X.shape[0]} rows but {name} has {a.shape[0]}")
        if isinstance(a, da.Array):
            a = a.rechunk({0: rows, **{axis: -1 for axis in range(1, a.ndim)}})
        else:
            a = da.from_array(a, chunks=(rows,) + a.shape[1:])
        out.append(a)
    return out


def _parts(a):
    """One dask.delayed per row partition, in row order."""
    return None if a is None else list(a.to_delayed().ravel())


_local = threading.local()


def _worker_model(model):
    """This thread's private copy of the shipped model (tasks on other threads must not share theta)."""
    cache = getattr(_local, "models", None)
    if cache is None:
        cache = _local.models = weakref.WeakKeyDictionary()
    own = cache.get(model)
    if own is None:
        own = cache[model] = copy.deepcopy(model)
    return own


def _ship(model):
    return model


def _one_input(model) -> None:
    if len(getattr(model, "inputs", ())) > 1:
        raise ValueError(f"tinygraph.dask: the model has several inputs {[x.name for x in model.inputs]}; "
                         "dask training takes one X: join the inputs into one array and split it in "
                         "the graph with tg.Slice")


def _prepare(model, X, y, sample_weight):
    """Validate one partition once, in the model's dtype: (X, y, sample_weight, m_k)."""
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=model.dtype)
        if w.size and not w.any():
            return None, None, None, 0.0  # all weights zero: the partition adds nothing
    X, y, sample_weight = model._check_data(X, y, sample_weight)
    return X, y, sample_weight, float(n_examples(X.shape[0], sample_weight))


def _partial(model, theta, part, k: int):
    """m_k·L_k and m_k·∇L_k on partition k; the compute time per worker thread; where k lives."""
    t0 = time.perf_counter()
    X, y, sample_weight, m = part
    address = _worker_address()
    if m == 0:
        return 0.0, np.zeros(model.n_params, dtype=model.dtype), {}, {k: address}
    own = _worker_model(model)
    own._noise_block = k + 1  # dropout masks: one stream per partition, the same at every evaluation
    loss, grad = own.loss_and_grad(theta, X, y, sample_weight=sample_weight, regularize=False,
                                   check_input=False)
    grad *= m
    return loss * m, grad, {f"{address}/{threading.get_ident()}": time.perf_counter() - t0}, {k: address}


def _worker_address() -> str:
    from distributed import get_worker
    try:
        return get_worker().address
    except ValueError:  # run outside a worker (e.g. dask's synchronous scheduler in a test)
        return "local"


def _add(*terms):
    """Sum of (loss, grad, times, where) terms; inputs are never written (a retried task may read them)."""
    loss, grad, times, where = terms[0][0], terms[0][1].copy(), dict(terms[0][2]), dict(terms[0][3])
    for l_k, g_k, t_k, w_k in terms[1:]:
        loss += l_k
        grad += g_k
        for key, t in t_k.items():
            times[key] = times.get(key, 0.0) + t
        where.update(w_k)
    return loss, grad, times, where


class Objective:
    """``fun(theta) -> (loss, grad)`` of a model over row partitions held on a Dask cluster.

    Parameters
    ----------
    model : Graph
        A model ending in a loss node. It is copied: calls never change ``model.theta``.
    X : dask array (N, n_features) or (N, *input_shape) chunked by rows, or a Dask DataFrame
        The examples; each row chunk is one partition, validated once and kept on the workers.
    y : dask array (N,), (N, K), or (N, T) / (N, T, K) for per-step targets (rechunked like X's
        rows), Dask Series, or numpy array
        Targets, as the model's loss node checks them.
    sample_weight : like y, optional
        Non-negative row weights; M is their sum.
    client : distributed.Client, optional
        The cluster's client (default: the current client).
    split_every : int, default 8
        Fan-in of the reduction tree.
    timeout : float, optional
        Seconds an evaluation may take before it raises ``ClusterError`` (default: no limit; with
        every worker gone Dask waits for new ones).
    retries : int, default 3
        Times an evaluation is repeated after a dropped connection or a lost input. Dask itself
        reschedules the tasks of a dead worker and recomputes lost partitions from their recipe;
        data with no recipe (scattered from the client) cannot come back: ``ClusterError``.

    Attributes
    ----------
    n_partitions, n_rows : int
        The row partitions and the rows they hold.
    weight_sum : float
        M, the sum of the sample weights.
    n_evaluations : int
        Loss-and-gradient evaluations so far.
    timings : dict
        Seconds summed over calls: ``wall`` on the client, ``compute`` the busiest worker thread's time
        in ``loss_and_grad``, ``communication`` = wall − compute (sending θ, moving gradients,
        scheduling).

    Raises
    ------
    TypeError
        The model does not end in a loss node.
    ValueError
        ``split_every`` < 2, a node that normalises over the batch or keeps running statistics,
        or sample weights that sum to 0.

    Examples
    --------
    The examples need a Dask client, so doctest skips them; they run as written with an
    in-process cluster:

    >>> import numpy as np, dask.array as da, tinygraph as tg  # doctest: +SKIP
    >>> from distributed import Client  # doctest: +SKIP
    >>> client = Client(processes=False, n_workers=1, dashboard_address=None)  # doctest: +SKIP
    >>> rng = np.random.default_rng(0)  # doctest: +SKIP
    >>> X = da.from_array(rng.normal(size=(400, 3)), chunks=100)  # doctest: +SKIP
    >>> y = da.from_array((X[:, 0] > 0).astype(int).compute(), chunks=100)  # doctest: +SKIP
    >>> model = tg.Sequential([tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)  # doctest: +SKIP
    >>> with tg.dask.objective(model, X, y) as fun:  # doctest: +SKIP
    ...     loss, grad = fun(model.theta)
    ...     print(fun.n_partitions, grad.shape)
    4 (8,)
    """

    def __init__(self, model, X, y, sample_weight=None, *, client=None, split_every: int = 8,
                 timeout: float | None = None, retries: int = 3):
        _, distributed = _dask()
        if model.loss is None:
            raise TypeError(f"tinygraph.dask: the model ends in {model.output!r}, not a loss node")
        _one_input(model)
        if split_every < 2:
            raise ValueError(f"tinygraph.dask: split_every must be >= 2, got {split_every}")
        coupled = [n.name for n in model.nodes if n.couples_rows or n.states]
        if coupled:
            raise ValueError(f"tinygraph.dask: {', '.join(coupled)} normalise over the whole batch and keep "
                             "running statistics, which partitions on separate workers cannot share; train "
                             "this model with minibatches (tinygraph.dask.fit(..., batch_size=...)) or in memory")
        self.client = _client(client)
        self.model = copy.deepcopy(model)  # holds theta and grad for the l2 term on the client
        self.split_every, self.timeout, self.retries = split_every, timeout, retries
        self._wait = {} if timeout is None else {"timeout": timeout}
        X, y, sample_weight = _align(X, y, sample_weight)
        self.n_rows, self.n_partitions = X.shape[0], len(X.chunks[0])
        # submitted, not scattered: the scheduler keeps the recipe, so the model survives losing
        # every worker that held it; each worker fetches it once, on its first task
        # (a copy of its own: the client's copy changes theta on every call)
        self._model_future = self.client.submit(_ship, copy.deepcopy(model), pure=False)
        n = self.n_partitions
        chunks = self.client.compute(_parts(X) + _parts(y) + (_parts(sample_weight) or []))
        ws = chunks[2 * n:] or [None] * n
        self._parts = [self.client.submit(_prepare, self._model_future, chunks[k], chunks[n + k], ws[k],
                                          pure=False) for k in range(n)]
        del chunks, ws  # the prepared partitions replace the raw chunks in worker memory
        sizes = self.client.gather(self.client.map(lambda part: part[3], self._parts, pure=False))
        self.weight_sum = float(sum(sizes))
        if not self.weight_sum > 0:
            raise ValueError("tinygraph.dask: sample_weight sums to 0 over all partitions")
        held = self.client.who_has(self._parts)
        self._where = {k: (held.get(part.key) or ["?"])[0] for k, part in enumerate(self._parts)}
        self.n_evaluations = 0
        self.timings = {"wall": 0.0, "compute": 0.0, "communication": 0.0}
        # a dropped connection or a lost input (theta's worker died mid-evaluation) may clear up on
        # the next try; a timeout or a task that killed several workers will not
        self._transient = (distributed.comm.CommClosedError, OSError, distributed.CancelledError)
        self._permanent = (distributed.scheduler.KilledWorker, TimeoutError)

    def _tree(self, terms: list):
        """Add futures ``split_every`` at a time until one is left."""
        while len(terms) > 1:
            s = self.split_every
            terms = [self.client.submit(_add, *terms[i:i + s]) if len(terms[i:i + s]) > 1 else terms[i]
                     for i in range(0, len(terms), s)]
        return terms[0]

    def _evaluate(self, theta: np.ndarray) -> tuple:
        """(Σ m_k·L_k, Σ m_k·∇L_k, compute seconds per worker thread) at ``theta``."""
        # to one worker; the others fetch it from there (a broadcast scatter can hang on a dying worker)
        theta_future = self.client.scatter(theta, hash=False, **self._wait)
        groups = {}
        for k, part in enumerate(self._parts):
            term = self.client.submit(_partial, self._model_future, theta_future, part, k)
            # partitions on one worker are added there first (last call's location: no extra RPC)
            groups.setdefault(self._where.get(k), []).append(term)
        total = self._tree([self._tree(terms) for terms in groups.values()])
        loss, grad, times, self._where = total.result(timeout=self.timeout)
        return loss, grad, times

    def __call__(self, theta, *args):
        """Loss and gradient at ``theta`` (a new array of theta's dtype); ``args`` are ignored.

        Parameters
        ----------
        theta : ndarray (n_params,)
            The parameters at which to evaluate (``model.theta`` is not changed).
        *args
            Ignored (scipy passes ``args=()``).

        Returns
        -------
        loss : float
            Σ_k m_k·L_k / M plus the l2 term.
        grad : ndarray (n_params,)
            The gradient, a new array of theta's dtype.

        Raises
        ------
        ClusterError
            The evaluation failed on the cluster after ``retries``, or took longer than ``timeout``.
        ValueError
            The objective is closed, or theta has the wrong size or is not finite.
        """
        if self._model_future is None:
            raise ValueError("tinygraph.dask: this objective is closed (its partitions were released)")
        model = self.model
        model._load(theta)  # validates theta before anything is sent
        t0 = time.perf_counter()
        for attempt in range(self.retries + 1):
            try:
                loss, grad, times = self._evaluate(model.theta)
                break
            except self._permanent as e:  # first: TimeoutError is an OSError too
                raise self._failed(e) from e
            except self._transient as e:  # let the scheduler notice the dead worker, then retry
                if attempt == self.retries:
                    raise self._failed(e) from e
                time.sleep(0.25 * 2 ** attempt)
        wall = time.perf_counter() - t0
        compute = max(times.values(), default=0.0)
        self.n_evaluations += 1
        self.timings["wall"] += wall
        self.timings["compute"] += compute
        self.timings["communication"] += wall - compute
        np.divide(grad, self.weight_sum, out=model.grad)
        loss = loss / self.weight_sum + model.penalty(self.weight_sum, model.grad)
        dtype = theta.dtype if getattr(theta, "dtype", np.dtype("O")).kind == "f" else model.dtype
        return float(loss), model.grad.astype(dtype)

    def _failed(self, e: Exception) -> ClusterError:
        return ClusterError(f"tinygraph.dask: evaluation {self.n_evaluations + 1} failed on the cluster "
                            f"and Dask could not recover it ({type(e).__name__}: {e})")

    def close(self) -> None:
        """Release the partitions and the model on the workers."""
        self._parts, self._model_future = [], None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Objective(n_rows={self.n_rows}, n_partitions={self.n_partitions}, "
                f"n_params={self.model.n_params}, evaluations={self.n_evaluations})")


def objective(model, X, y, sample_weight=None, *, client=None, split_every: int = 8,
              timeout: float | None = None, retries: int = 3) -> Objective:
    """``fun(theta) -> (loss, grad)`` over data on a Dask cluster; see ``Objective``.

    Parameters
    ----------
    model, X, y, sample_weight, client, split_every, timeout, retries
        As ``Objective``.

    Returns
    -------
    Objective
        Callable as ``fun(theta) -> (loss, grad)``; a context manager that releases the data on exit.

    Examples
    --------
    As ``Objective`` (needs a Dask client: skipped by doctest):

    >>> import scipy.optimize  # doctest: +SKIP
    >>> fun = tg.dask.objective(model, X, y)  # doctest: +SKIP
    >>> res = scipy.optimize.minimize(fun, model.theta, jac=True, method="L-BFGS-B")  # doctest: +SKIP
    >>> fun.close()  # doctest: +SKIP
    """
    return Objective(model, X, y, sample_weight, client=client, split_every=split_every, timeout=timeout,
                     retries=retries)


def _epoch_rng(seed, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def batches(X, y, sample_weight=None, *, batch_size: int, epoch: int = 0, random_state=None,
            shuffle: bool = True, client=None):
    """Yield minibatches ``(X_b, y_b, sample_weight_b)`` (numpy) of one epoch over dask arrays.

    Every row is visited once per epoch, one partition at a time; at most two partitions are in the
    client's memory (the next one is computed and fetched while the current one is consumed).
    Shuffling (``shuffle=True``): the partitions are visited in a random order, the rows of each
    partition are permuted, and consecutive ``batch_size`` rows form a batch, so **a batch never
    spans two partitions** and the last batch of a partition may be smaller. Both permutations
    come from ``default_rng([random_state, epoch])``: epoch k depends only on (random_state, k)
    (``random_state`` an int; None draws fresh ones). ``shuffle=False``: partitions and rows in order.
    Unpersisted arrays are recomputed each epoch: ``X = X.persist()`` keeps them on the workers.

    Parameters
    ----------
    X : dask array, Dask DataFrame or numpy array
        The examples, chunked by rows (the partitions).
    y : like X
        Targets (rechunked like X's rows).
    sample_weight : like y, optional
        Row weights; the third item of each batch (None without them).
    batch_size : int
        Rows per batch (the last batch of a partition may hold fewer).
    epoch : int, default 0
        The epoch number, mixed into the shuffle's seed.
    random_state : None or int
        Seed of the shuffles (None: fresh ones).
    shuffle : bool, default True
        Visit partitions and rows in a random order.
    client : distributed.Client, optional
        The cluster's client (default: the current client).

    Yields
    ------
    tuple
        ``(X_b, y_b, sample_weight_b)``, numpy arrays (``sample_weight_b`` None without weights).

    Raises
    ------
    ValueError
        ``batch_size`` is not a positive int, or there is no Dask client.

    Examples
    --------
    The examples need a Dask client, so doctest skips them; they run as written with an
    in-process cluster:

    >>> import numpy as np, dask.array as da, tinygraph as tg  # doctest: +SKIP
    >>> from distributed import Client  # doctest: +SKIP
    >>> client = Client(processes=False, n_workers=1, dashboard_address=None)  # doctest: +SKIP
    >>> rng = np.random.default_rng(0)  # doctest: +SKIP
    >>> X = da.from_array(rng.normal(size=(400, 3)), chunks=100)  # doctest: +SKIP
    >>> y = da.from_array((X[:, 0] > 0).astype(int).compute(), chunks=100)  # doctest: +SKIP
    >>> model = tg.Sequential([tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)  # doctest: +SKIP
    >>> [Xb.shape for Xb, yb, wb in tg.dask.batches(X, y, batch_size=64, shuffle=False)][:3]  # doctest: +SKIP
    [(64, 3), (36, 3), (64, 3)]
    """
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batches: batch_size must be a positive int, got {batch_size!r}")
    client = _client(client)
    arrays = [a for a in _align(X, y, sample_weight) if a is not None]
    n_parts = len(arrays[0].chunks[0])
    rng = _epoch_rng(random_state, epoch) if shuffle and random_state is not None else \
        np.random.default_rng() if shuffle else None
    order = rng.permutation(n_parts) if shuffle else np.arange(n_parts)

    def fetch(k):
        return client.compute([a.blocks[k] for a in arrays])

    pending = fetch(order[0])
    for i in range(n_parts):
        blocks = client.gather(pending)
        if i + 1 < n_parts:
            pending = fetch(order[i + 1])
        rows = rng.permutation(blocks[0].shape[0]) if shuffle else None
        for start in range(0, blocks[0].shape[0], batch_size):
            if rows is None:
                out = [b[start:start + batch_size] for b in blocks]
            else:
                out = [b[rows[start:start + batch_size]] for b in blocks]
            yield out[0], out[1], (out[2] if sample_weight is not None else None)


def fit(model, X, y, optimizer="L-BFGS-B", *, sample_weight=None, batch_size: int | None = None,
        epochs: int | None = None, maxiter: int | None = None, tol: float | None = None,
        callback=None, random_state=None, client=None, timeout: float | None = None):
    """Train ``model`` on dask arrays; the final theta is written into ``model.theta``.

    Full batch (``batch_size=None``): ``tg.minimize(objective(model, X, y), model.theta, optimizer)``
    with a scipy method name (default L-BFGS-B, ``maxiter`` 200) or an ``Optimizer`` taking
    full-batch steps; ``model.theta`` follows every accepted iterate, so after a ``ClusterError``
    it holds the last good one. Minibatches (``batch_size`` an int, ``optimizer`` an ``Optimizer``):
    ``epochs`` passes (default 10, or until ``maxiter`` updates) over ``batches(...)``, whose
    docstring states the order; the result's history is that of ``tg.fit``.
    Returns a ``tg.OptimizeResult``; full batch adds ``timings`` (see ``Objective``) and
    ``n_evaluations``.

    Parameters
    ----------
    model : Graph
        A model with one input, ending in a loss node; trained in place.
    X, y, sample_weight
        Dask arrays (or DataFrame/Series) chunked by rows, as ``Objective``.
    optimizer : str or Optimizer, default "L-BFGS-B"
        A scipy method name or an ``Optimizer`` (full batch); an ``Optimizer`` with a step rule
        (SGD, Adam, ...) with ``batch_size``.
    batch_size : int, optional
        Rows per minibatch (None: full batch).
    epochs : int, optional
        Passes over the data on minibatches (default 10, or until ``maxiter`` updates).
    maxiter : int, optional
        Iterations full batch (default 200), updates on minibatches.
    tol : float, optional
        Passed to ``tg.minimize`` (full batch).
    callback : callable, optional
        ``callback(info) -> bool`` after every accepted iterate or step; True stops training.
    random_state : None or int
        Seeds the minibatch shuffles (see ``batches``).
    client : distributed.Client, optional
        The cluster's client (default: the current client).
    timeout : float, optional
        Seconds an evaluation may take (full batch; see ``Objective``).

    Returns
    -------
    OptimizeResult
        The result; its ``x`` is also in ``model.theta``.

    Raises
    ------
    ClusterError
        The cluster lost data it cannot recompute; ``model.theta`` keeps the last accepted iterate.
    NonFiniteError
        A minibatch loss is NaN or infinite; ``model.theta`` keeps the last finite theta.
    TypeError
        Minibatches with an optimizer that is not a step rule.

    Examples
    --------
    The examples need a Dask client, so doctest skips them; they run as written with an
    in-process cluster:

    >>> import numpy as np, dask.array as da, tinygraph as tg  # doctest: +SKIP
    >>> from distributed import Client  # doctest: +SKIP
    >>> client = Client(processes=False, n_workers=1, dashboard_address=None)  # doctest: +SKIP
    >>> rng = np.random.default_rng(0)  # doctest: +SKIP
    >>> X = da.from_array(rng.normal(size=(400, 3)), chunks=100)  # doctest: +SKIP
    >>> y = da.from_array((X[:, 0] > 0).astype(int).compute(), chunks=100)  # doctest: +SKIP
    >>> model = tg.Sequential([tg.Dense(3, 2), tg.Softmax(), tg.CrossEntropy()], random_state=0)  # doctest: +SKIP
    >>> res = tg.dask.fit(model, X, y, maxiter=50)  # doctest: +SKIP
    >>> res.success, res.n_evaluations > 0  # doctest: +SKIP
    (True, True)
    >>> res = tg.dask.fit(model, X, y, tg.optim.Adam(0.01), batch_size=50, epochs=2,
    ...                   random_state=0)  # doctest: +SKIP
    >>> res.nit  # 4 partitions of 100 rows: 2 batches each, 2 epochs  # doctest: +SKIP
    16
    """
    _one_input(model)
    from ..training.objective import minimize

    if batch_size is None:
        fun = objective(model, X, y, sample_weight, client=client, timeout=timeout)
        accepted, frozen = {"nit": 0}, np.flatnonzero(~model.trainable_mask)

        def masked(theta):  # frozen nodes: a zero gradient keeps their entries where they are
            loss, g = fun(theta)
            g[frozen] = 0
            return loss, g

        def follow(info):  # keep the last accepted iterate in the model, whatever happens next
            np.copyto(model.theta, info.theta)
            accepted["nit"] += 1
            return callback(info) if callback is not None else None

        with fun:
            try:
                res = minimize(masked, model.theta.copy(), method=optimizer, callback=follow,
                               maxiter=200 if maxiter is None else maxiter, tol=tol)
            except ClusterError as e:
                raise ClusterError(f"{e}; model.theta keeps the last accepted iterate "
                                   f"(iteration {accepted['nit']})") from e
        np.copyto(model.theta, res.x)
        res.timings, res.n_evaluations = dict(fun.timings), fun.n_evaluations
        return res
    return _fit_minibatch(model, X, y, sample_weight, optimizer, batch_size, epochs, maxiter,
                          callback, random_state, client)


def _fit_minibatch(model, X, y, sample_weight, opt, batch_size, epochs, maxiter, callback,
                   random_state, client):
    from ..training.monitor import Monitor
    from ..optim.first_order import NonFiniteError, Optimizer, Scipy
    from ..validation import shuffle_seed

    if not isinstance(opt, Optimizer) or isinstance(opt, Scipy):
        raise TypeError("tinygraph.dask.fit: minibatches need a tinygraph.optim.Optimizer with a step "
                        f"rule (SGD, Adam, ...), got {opt!r}")
    epochs = (10 if maxiter is None else np.inf) if epochs is None else epochs
    maxiter = np.inf if maxiter is None else maxiter
    seed, theta = shuffle_seed(random_state), model.theta
    opt.freeze(model.trainable_mask)
    mon = Monitor(model, opt, callback=callback)
    grad = np.empty_like(theta)
    loss, epoch, seen, stop, interrupted = np.nan, 0, 0, False, False
    try:
        while epoch < epochs and not stop:
            for Xb, yb, swb in batches(X, y, sample_weight, batch_size=batch_size, epoch=epoch,
                                       random_state=seed, client=client):
                if swb is not None and not swb.any():
                    continue  # a batch of zero weight has no loss to descend
                model.noise_step = opt.t
                loss, g = model.loss_and_grad(theta, Xb, yb, sample_weight=swb, out=grad)
                if not np.isfinite(loss):
                    raise NonFiniteError(f"step {mon.steps + 1}: the loss is {loss}; model.theta keeps "
                                         "the last finite theta")
                opt.step(theta, g)
                model.update_state()
                seen += Xb.shape[0]
                if mon.after_step(loss, Xb.shape[0], epoch) or mon.steps >= maxiter:
                    stop = True
                    break
            stop = (not stop and mon.after_epoch(epoch)) or stop
            epoch += 1
    except KeyboardInterrupt:  # as tg.fit: return what was reached, theta stays in the model
        interrupted = True
        mon.interrupted(epoch)
    return mon.result(fun=loss, nit=mon.steps, nfev=mon.steps, n_examples_seen=seen, success=not interrupted,
                      message=f"stopped after {epoch} epochs, {mon.steps} updates", epoch=epoch,
                      interrupted=interrupted)
