"""What users wrote before the subpackages keeps working: every public name at its old module path,
pickles and files made by the release before the move (tests/data/*_before_layout.*)."""
import importlib
import json
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tinygraph as tg

DATA = pathlib.Path(__file__).parent / "data"
OLD_NAMES = json.loads((DATA / "names_before_layout.json").read_text())


@pytest.mark.parametrize("module", sorted(OLD_NAMES))
def test_every_public_name_stays_importable_from_its_old_module(module):
    mod = importlib.import_module(module)
    missing = [name for name in OLD_NAMES[module] if not hasattr(mod, name)]
    assert missing == []


def test_an_old_module_path_is_the_new_module_itself():
    import tinygraph.parallel.threads
    import tinygraph.threads
    assert tinygraph.threads is tinygraph.parallel.threads
    assert tinygraph.threads.__name__ == tinygraph.threads.__spec__.name == "tinygraph.parallel.threads"
    from tinygraph.checkpoint import Checkpoint
    assert Checkpoint is tg.Checkpoint and Checkpoint.__module__ == "tinygraph.training.checkpoint"


def test_old_paths_stay_lazy():
    """``import tinygraph.estimators`` needs scikit-learn as before; ``import tinygraph`` still loads neither."""
    code = ("import sys, tinygraph, tinygraph.threads, tinygraph.fileformat; "
            "print(sorted(m for m in ('sklearn', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_pickles_made_before_the_move_load_and_predict_the_same():
    pytest.importorskip("sklearn")
    with open(DATA / "pickles_before_layout.pkl", "rb") as f:
        saved = pickle.load(f)  # names tinygraph.estimators, tinygraph.monitor, tinygraph.schedules
    from sklearn.datasets import load_iris
    X, _ = load_iris(return_X_y=True)
    np.testing.assert_array_equal(saved["classifier"].predict_proba(X), saved["proba"])
    np.testing.assert_array_equal(saved["regressor"].predict(X[:, :3]), saved["reg_pred"])
    np.testing.assert_array_equal(saved["model"].forward(X), saved["forward"])
    assert type(saved["classifier"]) is tg.NeuralNetClassifier
    assert type(saved["result"]) is tg.OptimizeResult
    assert type(saved["classifier"].optimizer) is tg.optim.Adam


def test_files_saved_before_the_move_load_and_predict_the_same():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    X, _ = load_iris(return_X_y=True)
    with open(DATA / "pickles_before_layout.pkl", "rb") as f:
        saved = pickle.load(f)
    model = tg.load(DATA / "model_before_layout.npz")
    np.testing.assert_array_equal(model.forward(X), saved["forward"])
    clf = tg.load(DATA / "classifier_before_layout.npz")
    np.testing.assert_array_equal(clf.predict_proba(X), saved["proba"])
