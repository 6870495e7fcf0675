"""Smoke test of the installed wheel: `.ci/run` builds it, installs it into a fresh virtual environment
outside the repository and runs this script from there (so nothing can come from the source tree).

    python wheel_smoke.py SUBPACKAGE [SUBPACKAGE ...]    # the repository's subpackages, which the wheel must carry
"""
import importlib
import os
import sys
import tempfile

import numpy as np

import tinygraph as tg

here = os.path.dirname(os.path.abspath(tg.__file__))
assert "site-packages" in here, f"tinygraph was imported from {here}, not from the installed wheel"
for name in sys.argv[1:]:  # every subpackage of the repository is in the wheel and imports
    assert os.path.isfile(os.path.join(os.path.dirname(here), *name.split("."), "__init__.py")), name
    importlib.import_module(name)

X, y = tg.datasets.load_mnist()  # the bundled MNIST, read from the installed package data
assert X.shape == (10000, 784) and y.shape == (10000,), (X.shape, y.shape)
shape, X, y = X.shape, X[:500], y[:500]
model = tg.Sequential([tg.Dense(784, 16), tg.ReLU(), tg.Dense(16, 10), tg.Softmax(), tg.CrossEntropy()],
                      random_state=0)
before = model.loss_value(model.theta, X, y)
res = tg.fit(model, X, y, "adam", batch_size=100, epochs=3)
assert res.fun < before, (res.fun, before)
with tempfile.TemporaryDirectory() as d:
    back = tg.load(tg.save(model, os.path.join(d, "net.npz")))
assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
print(f"wheel smoke test: tinygraph {tg.__version__} from {os.path.basename(os.path.dirname(here))}, "
      f"{len(sys.argv) - 1} subpackages, MNIST {shape}, loss {before:.3f} -> {res.fun:.3f}, save/load equal: ok")
