"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def usim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless nionswift-usim session on sample 2 ("CTS"); yields its stem_controller.

    Skips the test when nionswift-usim is not installed. One session per test
    module; its camera threads never stop by themselves, so the teardown
    closes them.
    """
    pytest.importorskip("nion.usim_device")
    from nion.instrumentation import camera_base, scan_base
    from nion.usim_device import DeviceConfiguration
    from nion.utils import Registry

    location = tmp_path_factory.mktemp("usim_config")
    configuration = DeviceConfiguration.AcquisitionContextConfiguration(
        sample_index=2, set_configuration_location=False
    )
    scan_base.run(location)
    camera_base.run(location)
    configuration.run()
    try:
        yield Registry.get_component("stem_controller")
    finally:
        # unregistering closes the hardware sources and their camera threads; without this
        # the interpreter hangs at exit (FIELD-NOTES: nionswift-usim, headless)
        configuration.stop()
        scan_base.stop()
        camera_base.stop()
