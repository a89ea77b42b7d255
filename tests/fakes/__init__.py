"""Faithful fakes of vendor SDKs (AutoScript, DigitalMicrograph) for the driver tests.

Not test modules: each ``install(monkeypatch, ...)`` puts a fake into ``sys.modules``.
"""
