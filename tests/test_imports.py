"""import tinygraph loads no scikit-learn, pandas, dask or matplotlib; they load when used."""
import subprocess
import sys

HEAVY = ("sklearn", "pandas", "dask", "distributed", "matplotlib", "torch")


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_import_loads_no_optional_library():
    out = run(f"import sys, tinygraph; print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert out.strip() == "[]"


def test_lazy_names_load_on_use():
    out = run("import sys, tinygraph as tg; c = tg.NeuralNetClassifier; d = tg.datasets; "
              "print('sklearn' in sys.modules, 'load_mnist' in dir(d), 'dask' in dir(tg), "
              "tg.Checkpoint.__name__, tg.check_gradients.__name__)")
    assert out.split() == ["True", "True", "True", "Checkpoint", "check_gradients"]
