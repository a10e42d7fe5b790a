"""Every product benchmark imports: a script whose import broke (a module it names moved) fails here, not on
the day someone runs it. ``benchmarks/research`` keeps one-off scripts that are not maintained, so it is left out."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import benchmarks

MODULES = sorted(m.name for m in pkgutil.walk_packages(benchmarks.__path__, "benchmarks.") if ".research" not in m.name)


@pytest.mark.parametrize("name", MODULES)
def test_the_benchmark_imports(name: str) -> None:
    importlib.import_module(name)
