"""Sphinx configuration: API reference from numpydoc docstrings, user guide in Markdown (MyST),
and the example gallery built by sphinx-gallery from ``examples/``.

Build: ``pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html``.
The gallery runs the examples that are quick at their full settings (they say so, naming
``TINYGRAPH_GALLERY``, in their ``__main__`` block), so each page shows the figures its text claims;
the others show their code and the output of a full run recorded in their docstring, with its command.
"""
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ["TINYGRAPH_GALLERY"] = "1"
os.environ.setdefault("MPLBACKEND", "agg")

import tinygraph

project = "tinygraph"
author = "the tinygraph developers"
copyright = "the tinygraph developers"
release = version = tinygraph.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# api_more.rst is only included by api.rst (empty when every public name is filed by family): not a page.
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.md5", "auto_examples/*.json", "api_more.rst"]
templates_path = ["_templates"]

html_theme = "pydata_sphinx_theme"
html_title = "tinygraph"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = ["_static"]
html_css_files = ["tinygraph.css"]  # long formula lines wrap instead of running off the page

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
# Topic pages link to files of the repository (examples/x.py, ../README.md): GitHub follows those,
# Sphinx has no document for them.
suppress_warnings = ["myst.xref_missing", "myst.header"]

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
}
# The build must work offline (CI has no network but the package registries): no inventories fetched.
intersphinx_disabled_reftypes = ["*"]
intersphinx_mapping = {}


# The gallery runs the examples that say they are quick at full size (naming TINYGRAPH_GALLERY in their
# __main__ block); the others (benchmarks against peers, the Dask cluster, long trainings) are shown as
# code with the recorded output of a full run in their docstring. An example needs a reST title (a line of "=" under the
# first docstring line); one without is left out of the gallery, with a message, not a failed build.
sys.path.insert(0, str(DOCS))
_EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
RUN = [p.stem for p in _EXAMPLES if "TINYGRAPH_GALLERY" in p.read_text()]
UNTITLED = [p.stem for p in _EXAMPLES if not re.match(r'"""[^\n]+\n=+\n', p.read_text())]
if UNTITLED:
    print(f"docs: examples without a gallery title, left out of the gallery: {UNTITLED}")

sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/({})\.py$".format("|".join(RUN) or "$^"),
    "ignore_pattern": r"/(_|({})\.py$)".format("|".join(UNTITLED) or "$^"),
    "image_scrapers": ("matplotlib", "_gallery.output_files"),
    "reset_modules": ("_gallery.reset",),
    "reset_modules_order": "before",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "capture_repr": (),
    "min_reported_time": 1,
    "backreferences_dir": None,
    "show_memory": False,
    "plot_gallery": "True",
    "write_computation_times": False,
    # an example without a picture of its own (a table of numbers) shows a real graph, not a placeholder;
    # those not run name their recorded figure (sphinx_gallery_thumbnail_path, under _static/gallery)
    "default_thumb_file": str(DOCS / "_static" / "gallery" / "default_thumb.png"),
}


def _topic_pages():
    """docs/*.md written by topic owners go in one toctree (written here, so a new page needs no edit)."""
    listed = {"performance", "background"}
    first = ["usage", "convolution", "recurrent", "normalization", "activations", "reliability"]
    names = sorted((p.stem for p in DOCS.glob("*.md") if p.stem not in listed),
                   key=lambda s: (first.index(s) if s in first else len(first), s))
    text = ["Topics", "======", "", "Pages on one subject each, written with the code they describe.", "",
            ".. toctree::", "   :maxdepth: 1", ""]
    text += [f"   {name}" for name in names]
    if not names:
        text[3] = "No topic pages yet."
        text = text[:5]
    path = DOCS / "topics.rst"
    body = "\n".join(text) + "\n"
    if not path.exists() or path.read_text() != body:
        path.write_text(body)


_topic_pages()


def _unlisted_names():
    """Public names of tinygraph missing from api.rst get their own section (written here), so the
    reference covers every name in ``tinygraph.__all__`` even before someone files them by topic."""
    pages = [DOCS / "api.rst", *sorted((DOCS / "api").glob("*.rst"))]
    listed = {name for page in pages for name in re.findall(r"^   ([\w.]+)$", page.read_text(), re.MULTILINE)}
    modules = {"dask", "datasets", "optim", "schedules", "initializers"}
    missing = [n for n in tinygraph.__all__ if n not in listed and n not in modules]
    text = ""
    if missing:
        text = ("More public names\n-----------------\n\n.. autosummary::\n   :toctree: generated\n"
                "   :nosignatures:\n\n" + "".join(f"   {n}\n" for n in missing))
    path = DOCS / "api_more.rst"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_unlisted_names()
# api_more.rst is no page of its own (excluded above), so autosummary is told the files to read.
_GENERATED = {"_build", "auto_examples", "generated", "_templates"}
autosummary_generate = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.rst")
                              if not _GENERATED & set(p.relative_to(DOCS).parts))



def _skip_foreign(app, what, name, obj, skip, options):
    """Members that scikit-learn adds to the estimators (metadata routing) belong to its docs."""
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("sklearn") or name.startswith("set_") and name.endswith("_request"):
        return True
    return None


_IGNORED = ("Unknown interpreted text role", "Unknown directive type", "No role entry", "No directive entry")


def _rst_problems(text: str) -> list:
    """docutils' warnings and errors for a docstring, ignoring Sphinx's own roles and directives."""
    import io

    import docutils.nodes
    from docutils.core import publish_doctree

    text = re.sub(r":[\w:.-]+:`", "`", text)  # Sphinx's roles (:class:`x`) are unknown to docutils alone
    tree = publish_doctree(text, settings_overrides={"report_level": 2, "halt_level": 5,
                                                     "warning_stream": io.StringIO()})
    messages = [m for m in tree.findall(docutils.nodes.system_message)
                if m["level"] >= 2 and not any(s in m.astext() for s in _IGNORED)]
    # some messages (an undefined |substitution|) only leave a "problematic" node in the text
    return messages + list(tree.findall(docutils.nodes.problematic))


def _plain_math(app, what, name, obj, options, lines):
    """Keep the house style's plain-text formulas readable and warning-free.

    Docstrings state their math first, as plain text made for ``help()`` (``forward: y = x·W + b``,
    shapes such as ``(N, *shape)``), then numpydoc sections. When that free text is not valid
    reStructuredText it is shown as a literal block, exactly as ``help()`` prints it; a lone ``*``
    in a section is escaped.
    """
    if not lines or not _rst_problems("\n".join(lines)):
        return
    heads = [i for i in range(1, len(lines)) if set(lines[i].strip()) == {"-"} and lines[i - 1].strip()]
    end = heads[0] - 1 if heads else len(lines)
    first = next((i for i in range(end) if lines[i].strip() == ""), end)
    body = lines[first:end]
    if _rst_problems("\n".join(body)):  # shown verbatim: the ``literal`` marks would show too
        body = ["", "::", ""] + ["    " + line.replace("``", "") for line in body if line is not None] + [""]
    rest = lines[end:]
    if _rst_problems("\n".join(rest)):
        rest = [line if line.lstrip().startswith(">>>") else _escape_stars(line) for line in rest]
    lines[:] = lines[:first] + body + rest


def _escape_stars(line: str) -> str:
    """Escape each ``*`` outside double-backquoted literals (``(N, *shape)`` is not emphasis)."""
    parts = line.split("``")
    return "``".join(p if i % 2 else re.sub(r"(?<!\\)\*", r"\\*", p) for i, p in enumerate(parts))


def _public_bases(app, name, obj, options, bases):
    """"Bases: _Recurrent" names a private class the reader cannot look up: show its public bases."""
    i = 0
    while i < len(bases):
        base = bases[i]
        if getattr(base, "__name__", "").startswith("_"):
            bases[i:i + 1] = [b for b in base.__bases__ if b is not object and b not in bases]
        else:
            i += 1


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-docstring", _plain_math, priority=400)


def _broken_examples() -> list:
    """Examples whose docstring is not valid reStructuredText would fail the build (-W): left out of
    the gallery with a message instead, so one example's docstring cannot block the docs."""
    import ast

    broken = []
    for p in _EXAMPLES:
        if p.stem in UNTITLED:
            continue
        doc = ast.get_docstring(ast.parse(p.read_text()), clean=True) or ""
        problems = _rst_problems(doc)
        if problems:
            broken.append(p.stem)
            print(f"docs: examples/{p.name}: its docstring is not valid reST ({problems[0].astext()[:120]!r}); "
                  "left out of the gallery")
    return broken


_LEFT_OUT = UNTITLED + _broken_examples()
sphinx_gallery_conf["ignore_pattern"] = r"/(_|({})\.py$)".format("|".join(_LEFT_OUT) or "$^")
