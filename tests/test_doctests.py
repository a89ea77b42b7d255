"""Every example in a docstring of the package runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import steerscope

# Streamlit pages run on import; the GMS script serves a microscope when run.
_SKIP = ("steerscope.ui.views", "steerscope.ui.app", "steerscope.instruments.drivers.gatan_")


def _modules() -> list[str]:
    found = [steerscope.__name__]
    for info in pkgutil.walk_packages(steerscope.__path__, prefix="steerscope."):
        if not info.name.startswith(_SKIP):
            found.append(info.name)
    return found


def _with_examples() -> list[str]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [
        name
        for name in _modules()
        if any(test.examples for test in finder.find(importlib.import_module(name)))
    ]


def test_the_config_example_is_among_the_doctests() -> None:
    assert "steerscope.campaign.config" in _with_examples()


@pytest.mark.parametrize("name", _with_examples())
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
