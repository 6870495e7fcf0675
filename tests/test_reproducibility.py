"""Same random_state, same bits: for every optimizer, in this process and in a fresh one."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygraph as tg

OPTIMIZERS = {
    "sgd": lambda: tg.optim.SGD(0.1),
    "momentum": lambda: tg.optim.SGD(0.1, momentum=0.9),
    "nesterov": lambda: tg.optim.SGD(0.1, momentum=0.9, nesterov=True, decay=1e-3),
    "adagrad": lambda: tg.optim.AdaGrad(0.1),
    "rmsprop": lambda: tg.optim.RMSProp(0.01),
    "adadelta": lambda: tg.optim.Adadelta(),
    "adam": lambda: tg.optim.Adam(0.01),
    "adamw": lambda: tg.optim.AdamW(0.01),
    "adam-clipnorm": lambda: tg.optim.Adam(0.05, clipnorm=0.5),
    "rprop": lambda: tg.optim.Rprop(0.01),
    "scipy-cg": lambda: tg.optim.Scipy("CG", maxiter=2),
    "scipy-lbfgsb": lambda: tg.optim.Scipy("L-BFGS-B", maxiter=2),
}
FULL_BATCH = ["L-BFGS-B", "CG", "BFGS", "TNC", "Newton-CG"]


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 5))
    return X, (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)


def train(optimizer, model_seed: int, fit_seed: int, dtype=np.float64) -> np.ndarray:
    X, y = data()
    model = tg.Sequential([tg.Dense(5, 7), tg.Tanh(), tg.Dense(7, 3), tg.Softmax(), tg.CrossEntropy()],
                          l2=0.01, dtype=dtype, random_state=model_seed)
    if isinstance(optimizer, str):
        tg.fit(model, X, y, optimizer, maxiter=5, random_state=fit_seed)
    else:
        tg.fit(model, X, y, optimizer, batch_size=10, epochs=3, random_state=fit_seed)
    return model.theta


def test_every_optimizer_class_is_covered():
    classes = {type(make()) for make in OPTIMIZERS.values()}
    listed = {getattr(tg.optim, name) for name in tg.optim.__all__}
    assert {c for c in listed if isinstance(c, type) and issubclass(c, tg.optim.Optimizer)
            and c is not tg.optim.Optimizer} <= classes


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_minibatch_optimizers_are_reproducible(name):
    make = OPTIMIZERS[name]
    a = train(make(), 1, 2)
    assert a.tobytes() == train(make(), 1, 2).tobytes()
    assert not np.array_equal(a, train(make(), 1, 3)), "another shuffle seed must change the result"
    assert not np.array_equal(a, train(make(), 4, 2)), "another init seed must change the result"


@pytest.mark.parametrize("method", FULL_BATCH)
def test_full_batch_scipy_methods_are_reproducible(method):
    a = train(method, 1, 0)
    assert a.tobytes() == train(method, 1, 0).tobytes()
    assert not np.array_equal(a, train(method, 4, 0))


def test_float32_is_reproducible():
    a = train(tg.optim.Adam(0.01), 1, 2, np.float32)
    assert a.dtype == np.float32 and a.tobytes() == train(tg.optim.Adam(0.01), 1, 2, np.float32).tobytes()


def test_generator_random_states_are_reproducible():
    X, y = data()
    thetas = []
    for _ in range(2):
        model = tg.Sequential([tg.Dense(5, 3), tg.Softmax(), tg.CrossEntropy()],
                              random_state=np.random.default_rng(11))
        tg.fit(model, X, y, tg.optim.Adam(0.01), batch_size=8, epochs=2, random_state=np.random.default_rng(5))
        thetas.append(model.theta.tobytes())
    assert thetas[0] == thetas[1]


SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from test_reproducibility import OPTIMIZERS, train
print(hashlib.sha256(train(OPTIMIZERS["adam"](), 1, 2).tobytes()).hexdigest())
"""


def test_a_fresh_process_gives_the_same_bits():
    """No hidden state (hash seeds, import order, caches) leaks into training."""
    here = hashlib.sha256(train(OPTIMIZERS["adam"](), 1, 2).tobytes()).hexdigest()
    script = SCRIPT.format(tests=os.path.dirname(__file__))
    # This process hashes with a random seed (or the one it was given); the child with another.
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed},
                         capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == here
