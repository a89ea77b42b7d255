"""Faithful fakes of vendor SDKs (AutoScript, DigitalMicrograph) for the driver tests.

Not test modules: each ``install(monkeypatch, ...)`` puts a fake into ``sys.modules``;
``sample.beam_marker_sample`` makes a sample whose spectra say where the beam landed.
"""
