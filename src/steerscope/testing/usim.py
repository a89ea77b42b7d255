"""A headless nionswift-usim session: the simulated Nion STEM the Nion driver is tested on."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["usim_session"]


@contextmanager
def usim_session(sample_index: int = 2) -> Iterator[Any]:
    """Start nionswift-usim without a display; yield its ``stem_controller``.

    Parameters
    ----------
    sample_index : int
        usim's sample: 0 flake, 1 amorphous carbon, 2 "CTS" Au balls on carbon.

    Raises
    ------
    ImportError
        When nionswift-usim is not installed (``pip install 'steerscope[nion]'``).

    Notes
    -----
    usim's camera threads never stop by themselves; leaving the block unregisters
    the hardware sources, which closes them (without it the interpreter hangs at exit).
    """
    from nion.instrumentation import camera_base, scan_base
    from nion.usim_device import DeviceConfiguration
    from nion.utils import Registry

    with tempfile.TemporaryDirectory(prefix="steerscope-usim-") as folder:
        location = Path(folder)
        configuration = DeviceConfiguration.AcquisitionContextConfiguration(
            sample_index=sample_index, set_configuration_location=False
        )
        scan_base.run(location)
        camera_base.run(location)
        configuration.run()
        try:
            yield Registry.get_component("stem_controller")
        finally:
            configuration.stop()
            scan_base.stop()
            camera_base.stop()
