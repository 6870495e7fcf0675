"""sphinx-gallery hooks (named by string in conf.py so the configuration stays picklable).

The examples save their pictures (matplotlib PNGs, graphviz SVG/PNG) to ``examples/output/`` and close
their figures, so the gallery shows the files an example wrote while it ran.
"""
import builtins
import shutil
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
_format_warning = warnings.formatwarning

_started: dict = {}
_seen: set = set()


def _relative_warning(message, category, filename, lineno, line=None):
    """A warning as Python prints it, with the file named from the repository's root: a built page
    shows no path of the machine that built it."""
    try:
        filename = str(Path(filename).resolve().relative_to(ROOT))
    except ValueError:  # a library's file: from its package folder on
        parts = Path(filename).parts
        filename = str(Path(*parts[parts.index("site-packages") + 1:])) if "site-packages" in parts \
            else Path(filename).name
    return _format_warning(message, category, filename, lineno, line)


def reset(gallery_conf, fname, when="before"):
    """Before every example: close matplotlib figures and start the clock for its output files."""
    import matplotlib.pyplot as plt

    warnings.formatwarning = _relative_warning
    plt.close("all")
    _started[Path(fname).name] = time.time() - 1.0
    # sphinx-gallery never defines __file__ in an example's namespace; ours find their output folder
    # (and models/) from it, as they do when run as scripts. A global name missing from the module
    # is looked up in builtins, so the example sees its own path.
    builtins.__file__ = str(EXAMPLES / Path(fname).name)


def output_files(block, block_vars, gallery_conf):
    """The PNG and SVG files the example wrote since it started (PNG only when both exist)."""
    from sphinx_gallery.scrapers import figure_rst

    src = Path(block_vars["src_file"])
    start = _started.get(src.name, time.time())
    out = src.parent / "output"
    files = [p for p in out.glob("*") if p.suffix in (".png", ".svg") and p not in _seen
             and p.stat().st_mtime >= start] if out.is_dir() else []
    _seen.update(files)
    stems = {p.stem for p in files if p.suffix == ".png"}
    files = sorted(p for p in files if p.suffix == ".png" or p.stem not in stems)
    names = []
    for p in files:
        target = Path(next(block_vars["image_path_iterator"])).with_suffix(p.suffix)
        shutil.copyfile(p, target)
        names.append(str(target))
    return figure_rst(names, gallery_conf["src_dir"]) if names else ""
