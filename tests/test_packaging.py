"""What ``pip install .`` puts in the wheel: every subpackage and the bundled data.

The wheel itself is built, installed into a fresh environment outside the repository and
smoke-tested by ``.ci/run`` (``.ci/wheel_smoke.py``); this test checks the configuration quickly.
"""
import fnmatch
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

if sys.version_info < (3, 11):
    pytest.skip("tomllib is in the standard library from Python 3.11", allow_module_level=True)
import tomllib  # noqa: E402

CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _packages_in_the_wheel() -> set:
    from setuptools.discovery import PEP420PackageFinder

    tool = CONFIG["tool"]["setuptools"]
    assert "packages" not in tool or isinstance(tool["packages"], dict), \
        "a fixed list of packages leaves new subpackages out of the wheel: let setuptools find them"
    find = tool["packages"]["find"] if "packages" in tool else tool.get("packages.find", {})
    return set(PEP420PackageFinder.find(str(ROOT), include=find.get("include", ("*",)),
                                        exclude=find.get("exclude", ())))


def test_every_subpackage_is_in_the_wheel():
    code = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tinygraph").rglob("*.py")
            if "__pycache__" not in p.parts}
    assert {"tinygraph", "tinygraph.nodes"} <= code
    missing = code - _packages_in_the_wheel()
    assert not missing, f"these packages would be left out of the wheel: {sorted(missing)}"
    assert not {p for p in _packages_in_the_wheel() if not p.startswith("tinygraph")}


def test_the_bundled_data_is_package_data():
    data = CONFIG["tool"]["setuptools"]["package-data"]
    files = [p for p in (ROOT / "tinygraph" / "data").iterdir() if p.is_file()]
    assert files
    for path in files:
        package = ".".join(path.parent.relative_to(ROOT).parts)
        globs = [(package, g) for g in data.get(package, [])] + [("tinygraph", g) for g in data.get("tinygraph", [])]
        rel = {"tinygraph": path.relative_to(ROOT / "tinygraph").as_posix(), package: path.name}
        assert any(fnmatch.fnmatch(rel[pkg], g) for pkg, g in globs), f"{path.name} is not package data"
        assert package in _packages_in_the_wheel()


def test_license_is_an_spdx_expression():
    # PEP 639: a string; the table form ({text = ...}) is deprecated by setuptools
    assert CONFIG["project"]["license"] == "MIT"
    for name in CONFIG["project"].get("license-files", []):
        assert (ROOT / name).is_file()
