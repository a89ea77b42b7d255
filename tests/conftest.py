"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def usim() -> Iterator[Any]:
    """A headless nionswift-usim session on sample 2 ("CTS"); yields its stem_controller.

    Skips the test when nionswift-usim is not installed. One session per test
    module; its camera threads never stop by themselves, so the teardown
    closes them.
    """
    pytest.importorskip("nion.usim_device")
    from steerscope.testing.usim import usim_session

    with usim_session(sample_index=2) as stem_controller:
        yield stem_controller


def pytest_configure(config: pytest.Config) -> None:
    """Keep the parsed-file cache of this run apart from the user's (and from other runs)."""
    os.environ["STEERSCOPE_CACHE"] = tempfile.mkdtemp(prefix="steerscope-parsed-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.pop("STEERSCOPE_CACHE", ""), ignore_errors=True)
