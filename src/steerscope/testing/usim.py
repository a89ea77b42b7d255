"""A headless nionswift-usim session: the simulated Nion STEM the Nion driver is tested on."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["record_eels_spectrum_image", "usim_ronchigram", "usim_session"]


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


def record_eels_spectrum_image(
    stem: Any, *, grid: int = 48, step: int = 4, pixel_time_us: float = 1.0
) -> dict[str, Any]:
    """Record a noise-free EELS spectrum image of usim's sample, and its HAADF overview.

    The overview is a ``grid * step`` square HAADF scan through steerscope's Nion
    driver; the spectra come from usim's own EELS camera simulator, evaluated with the
    probe parked at the centre of every ``step`` × ``step`` block of the overview.
    The simulator is called directly rather than through the camera's frame loop
    (about 0.3 s a frame), and only the sample features inside the field of view are
    passed to it (the "CTS" sample has 10,000), so 48 × 48 spectra take about a minute.

    Parameters
    ----------
    stem : STEMController
        From :func:`usim_session`.
    grid : int
        Spectra per side ``g``.
    step : int
        Overview pixels per spectrum pixel (per side).
    pixel_time_us : float
        Overview dwell per pixel.

    Returns
    -------
    dict
        ``overview`` (H, W) float32 with ``H = W = grid * step``, ``spectra``
        (g, g, C) float32 noise-free counts in usim's units, ``energy_offset`` and
        ``energy_scale`` (eV), ``pixel_size_nm`` (overview), ``sample`` (usim's title).
    """
    import numpy as np
    from nion.utils import Geometry

    from steerscope.instruments.drivers.nion import NionMicroscope

    class _NoNoise:
        poisson_level = 0.0

        def apply(self, xdata: Any) -> Any:
            return xdata

    scope = NionMicroscope(
        stem, overview_size=(grid * step, grid * step), pixel_time_us=pixel_time_us
    )
    try:
        overview = scope.overview()
        camera = stem.eels_camera.camera
        simulator = camera.simulator
        readout = Geometry.IntRect.from_tlbr(*camera.readout_area)
        binning = Geometry.IntSize(height=readout.height, width=1)  # one spectrum row
        sample = simulator.instrument.scan_data_generator.sample
        context = stem.scan_context
        offset_m = simulator.instrument.value_manager.actual_offset_m
        features = sample.features
        every = list(features)
        features[:] = [
            f
            for f in every
            if f.get_scan_rect_m(offset_m, context.fov_size_nm, context.center_nm).intersects_rect(
                f.get_feature_rect_m()
            )
        ]
        noise, simulator.noise = simulator.noise, _NoNoise()
        rows = []
        try:
            centres = np.arange(grid) * step + step // 2
            for r in centres:
                points = np.stack([np.full(grid, r), centres], axis=1)
                row = []
                for y, x in scope.probe_positions(points):
                    stem.probe_position = Geometry.FloatPoint(y=float(y), x=float(x))
                    xdata = simulator.get_frame_data(
                        readout, binning, 0.01, stem.scan_context, stem.probe_position
                    )
                    row.append(np.asarray(xdata.data, dtype=np.float32).sum(axis=0))
                rows.append(np.stack(row))
        finally:
            simulator.noise = noise
            features[:] = every
        calibration = xdata.dimensional_calibrations[-1]
        return {
            "overview": np.asarray(overview.image, dtype=np.float32),
            "spectra": np.stack(rows),
            "energy_offset": float(calibration.offset),
            "energy_scale": float(calibration.scale),
            "pixel_size_nm": float(overview.pixel_size),
            "sample": str(sample.title),
        }
    finally:
        scope.close()


USIM_SPHERICAL_ABERRATION_M = 5e-6
"""The residual C30 a usim tuning session starts with (usim's own default is 0, and
a Ronchigram with no aberration at all is blank in usim)."""


@contextmanager
def usim_ronchigram(
    mistuning: dict[str, float] | None = None, *, sample_index: int = 1, **options: Any
) -> Iterator[Any]:
    """A :class:`~steerscope.instruments.drivers.nion.NionRonchigram` over a headless usim.

    The sample is amorphous carbon (the film one tunes on), the probe has a residual
    spherical aberration (:data:`USIM_SPHERICAL_ABERRATION_M`), and ``mistuning``
    sets the tunable settings (SI) to where the operator found them.

    Parameters
    ----------
    mistuning : dict of str to float, optional
        Starting values, e.g. ``{"C10": 200e-9, "C12.a": -30e-9}``; unnamed ones are 0.
    sample_index : int
        usim's sample (1: amorphous carbon).
    **options
        Passed to :class:`NionRonchigram` (``binning``, ``exposure_ms``).
    """
    from steerscope.instruments.drivers.nion import NionRonchigram

    with usim_session(sample_index) as stem:
        stem.SetVal("C30Control", USIM_SPHERICAL_ABERRATION_M)
        stem.SetVal("C10Control", 0.0)  # usim starts 500 nm out of focus
        tunable = NionRonchigram(stem, **options)
        try:
            tunable.apply({name: 0.0 for name in tunable.controls} | dict(mistuning or {}))
            yield tunable
        finally:
            tunable.close()
