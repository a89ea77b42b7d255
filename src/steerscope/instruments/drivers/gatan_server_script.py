"""Run this file inside Gatan Microscopy Suite's Python to serve the microscope to steerscope.

In GMS: install steerscope into GMS's Python environment (``pip install steerscope``
from the GMS Python console, or add a checkout to ``sys.path`` there), open this file
in the GMS script window and run it, or call :func:`main` from the console. It
builds a :class:`~steerscope.instruments.drivers.gatan.GatanMicroscope` over
``DigitalMicrograph`` and serves it with :func:`steerscope.instruments.server.serve`,
speaking the same protocol as ``steerscope serve``; connect from the workstation with
``RemoteMicroscope("PYRO:steerscope.microscope@<gms-pc>:9097", token=...)``.

Edit the settings below (or pass them to :func:`main`). Binding beyond loopback
needs a token (``STEERSCOPE_TOKEN`` in the environment of GMS, or ``token=``).
"""

from __future__ import annotations

import os
from typing import Any

from steerscope.instruments.drivers.gatan import GatanMicroscope
from steerscope.instruments.server import DEFAULT_PORT, MicroscopeServer

__all__ = ["main"]

SETTINGS: dict[str, Any] = {
    "host": "127.0.0.1",  # "0.0.0.0" to accept the lab network (needs a token)
    "port": DEFAULT_PORT,
    "read_only": False,
    "overview_size": (512, 512),
    "pixel_time_us": 4.0,
    "exposure_s": 0.1,
}


def main(**overrides: Any) -> MicroscopeServer:
    """Build the Gatan adapter and serve it until GMS stops the script (Ctrl-C or shutdown)."""
    settings = {**SETTINGS, **overrides}
    host = settings.pop("host")
    port = settings.pop("port")
    read_only = settings.pop("read_only")
    token = settings.pop("token", None) or os.environ.get("STEERSCOPE_TOKEN")
    microscope = GatanMicroscope(**settings)
    server = MicroscopeServer(microscope, host, port, token, read_only)
    server.start()
    print(f"steerscope: serving the Gatan microscope at {server.uri}")  # noqa: T201  (command-line output)
    try:
        server.serve_forever()
    finally:
        microscope.close()
    return server


if __name__ == "__main__":
    main()
