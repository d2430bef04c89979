"""The conda environment and the pip metadata declare the same packages."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALIASES = {"dask[distributed]": {"dask", "distributed"}}


def _names(specs):
    out = set()
    for spec in specs:
        name = re.split(r"[<>=!~ ]", spec.strip(), maxsplit=1)[0].lower()
        out |= ALIASES.get(name, {name})
    return out


def test_environment_yml_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _names(meta["dependencies"]) | _names(meta["optional-dependencies"]["notebooks"])
    text = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    deps = re.findall(r"^\s+- ([A-Za-z][\w\-\[\]]*[^\n]*)$", text, flags=re.M)
    declared = _names(d for d in deps if not d.startswith(("pip", "-e")) and ":" not in d) - {"python"}
    assert declared == wanted, f"only in environment.yml: {declared - wanted}; only in pyproject: {wanted - declared}"


def test_constraints_pin_torch_for_the_commands():
    pins = (ROOT / "constraints.txt").read_text()
    assert "torch==2.14.1" in pins and "torchvision==0.29.1" in pins
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any("==" in d for d in meta["dependencies"]), "the package states ranges, not pins"
