"""SafeMicroscope refuses every request that breaks a SafetyLimits item, before the beam moves."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import ArrayLike
from pydantic import ValidationError

from steerscope.data import SpectrumImage
from steerscope.errors import InstrumentError, SafetyLimitError
from steerscope.instruments import Measurement, Microscope, Overview, SimulatedMicroscope
from steerscope.instruments.safety import PixelRect, SafeMicroscope, SafetyLimits
from steerscope.types import EnergyAxis, SignalKind


def _sim(dwell: float = 0.1) -> SimulatedMicroscope:
    overview = np.zeros((8, 12), dtype=np.float32)
    spectra = np.ones((8, 12, 16))
    image = SpectrumImage(overview, spectra, EnergyAxis(16, 0.0, 1.0), SignalKind.EELS)
    return SimulatedMicroscope(image, dwell_time_s=dwell)


class BlankingScope:
    """A driver with a beam blanker; logs the order of calls."""

    def __init__(self, inner: Microscope, fail: bool = False) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.fail = fail
        self.dwell_time_s = 0.1

    def overview(self) -> Overview:
        return self.inner.overview()

    def acquire(self, points: ArrayLike) -> Measurement:
        self.calls.append("acquire")
        if self.fail:
            raise InstrumentError("detector fault")
        return self.inner.acquire(points)

    def describe(self) -> dict[str, Any]:
        return {"driver": "blanking"}

    def close(self) -> None:
        self.calls.append("close")

    def blank(self) -> None:
        self.calls.append("blank")

    def unblank(self) -> None:
        self.calls.append("unblank")


def test_a_safe_microscope_is_a_microscope() -> None:
    safe = SafeMicroscope(_sim(), SafetyLimits())
    assert isinstance(safe, Microscope)
    safe.overview()
    m = safe.acquire([[1, 2], [7, 11]])
    assert m.spectra.shape == (2, 16)
    assert safe.n_acquired_ == 2
    assert safe.total_dwell_s_ == pytest.approx(0.2)
    assert safe.describe()["safety"]["n_acquired"] == 2


def test_field_of_view_from_overview_and_explicit_shape() -> None:
    sim = _sim()
    safe = SafeMicroscope(sim, SafetyLimits(field_of_view_shape=(4, 4)))
    with pytest.raises(SafetyLimitError, match=r"field of view: point \(row=1, col=5\).*4×4"):
        safe.acquire([[0, 0], [1, 5]])
    assert sim.n_acquired == 0  # the whole batch was refused
    safe = SafeMicroscope(sim, SafetyLimits())
    safe.overview()
    with pytest.raises(SafetyLimitError, match=r"point \(row=-1, col=0\) lies outside the 8×12"):
        safe.acquire([[-1, 0]])


def test_field_of_view_unknown_is_refused() -> None:
    class NoShape(BlankingScope):
        def describe(self) -> dict[str, Any]:
            return {}

    safe = SafeMicroscope(NoShape(_sim()), SafetyLimits())
    with pytest.raises(SafetyLimitError, match=r"overview grid is unknown.*field_of_view_shape"):
        safe.acquire([[0, 0]])


def test_field_of_view_from_describe_without_overview() -> None:
    safe = SafeMicroscope(_sim(), SafetyLimits())  # simulator describes overview_shape
    with pytest.raises(SafetyLimitError, match="outside the 8×12 overview"):
        safe.acquire([[8, 0]])


def test_allowed_region() -> None:
    region = PixelRect(row_min=2, row_max=4, col_min=0, col_max=3)
    safe = SafeMicroscope(_sim(), SafetyLimits(allowed_region=region))
    assert safe.acquire([[2, 0], [3, 2]]).spectra.shape == (2, 16)
    with pytest.raises(
        SafetyLimitError, match=r"allowed_region: point \(row=4, col=0\).*rows \[2, 4\)"
    ):
        safe.acquire([[4, 0]])


def test_no_go_rectangles_and_mask() -> None:
    rect = PixelRect(row_min=0, row_max=2, col_min=10, col_max=12)
    mask = np.zeros((8, 12), dtype=bool)
    mask[5, 5] = True
    safe = SafeMicroscope(_sim(), SafetyLimits(no_go_rects=[rect]), no_go_mask=mask)
    with pytest.raises(SafetyLimitError, match=r"no-go region: point \(row=1, col=11\)"):
        safe.acquire([[1, 11]])
    with pytest.raises(SafetyLimitError, match=r"point \(row=5, col=5\) lies in the operator"):
        safe.acquire([[0, 0], [5, 5]])
    extra = np.zeros((8, 12), dtype=bool)
    extra[6, 6] = True
    safe.add_no_go_mask(extra)
    with pytest.raises(SafetyLimitError, match=r"\(row=6, col=6\)"):
        safe.acquire([[6, 6]])
    assert safe.acquire([[5, 6]]).spectra.shape == (1, 16)
    with pytest.raises(SafetyLimitError, match=r"has shape \(3, 3\) but the current one"):
        safe.add_no_go_mask(np.zeros((3, 3), dtype=bool))


def test_max_dwell_time() -> None:
    safe = SafeMicroscope(_sim(dwell=0.5), SafetyLimits(max_dwell_time_s=0.2))
    with pytest.raises(
        SafetyLimitError, match=r"max_dwell_time_s: the dwell time of 0\.5 s exceeds .* 0\.2 s"
    ):
        safe.acquire([[0, 0]])


def test_max_acquisitions_counts_spectra() -> None:
    sim = _sim()
    safe = SafeMicroscope(sim, SafetyLimits(max_acquisitions=3))
    safe.acquire([[0, 0], [0, 1]])
    with pytest.raises(
        SafetyLimitError, match=r"max_acquisitions: 2 spectra acquired \+ 2 requested = 4 .* 3"
    ):
        safe.acquire([[0, 2], [0, 3]])
    safe.acquire([[0, 2]])
    assert sim.n_acquired == 3


def test_max_points_per_call() -> None:
    safe = SafeMicroscope(_sim(), SafetyLimits(max_points_per_call=2))
    with pytest.raises(SafetyLimitError, match="max_points_per_call: 3 points"):
        safe.acquire([[0, 0], [0, 1], [0, 2]])


def test_total_dwell_budget() -> None:
    safe = SafeMicroscope(_sim(dwell=0.25), SafetyLimits(max_total_dwell_s=1.0))
    safe.acquire([[0, 0], [0, 1], [0, 2]])  # 0.75 s
    with pytest.raises(
        SafetyLimitError, match=r"max_total_dwell_s: 0\.75 s given \+ 2 × 0\.25 s .* 1\.25 s"
    ):
        safe.acquire([[1, 0], [1, 1]])
    safe.acquire([[1, 0]])  # exactly 1.0 s is allowed
    assert safe.total_dwell_s_ == pytest.approx(1.0)


def test_total_charge_budget() -> None:
    limits = SafetyLimits(beam_current_a=50e-12, max_total_charge_c=1e-11)  # 0.2 s of beam
    safe = SafeMicroscope(_sim(dwell=0.1), limits)
    safe.acquire([[0, 0], [0, 1]])
    with pytest.raises(
        SafetyLimitError, match=r"max_total_charge_c: 0\.3 s × 5e-11 A = 1\.5e-11 C"
    ):
        safe.acquire([[0, 2]])
    with pytest.raises(ValidationError, match="needs the beam current"):
        SafetyLimits(max_total_charge_c=1e-9)


def test_dose_limits_need_a_reported_dwell_time() -> None:
    class Silent(BlankingScope):
        def __init__(self, inner: Microscope) -> None:
            super().__init__(inner)
            del self.dwell_time_s

    safe = SafeMicroscope(Silent(_sim()), SafetyLimits(max_total_dwell_s=10.0))
    safe.overview()
    with pytest.raises(SafetyLimitError, match="reports no dwell time"):
        safe.acquire([[0, 0]])


def test_beam_is_unblanked_only_around_acquisitions() -> None:
    scope = BlankingScope(_sim())
    safe = SafeMicroscope(scope, SafetyLimits())
    safe.overview()
    safe.acquire([[0, 0]])
    assert scope.calls == ["unblank", "acquire", "blank"]
    scope.calls.clear()
    with pytest.raises(SafetyLimitError):
        safe.acquire([[100, 0]])
    assert scope.calls == []  # refused before the blanker was touched
    scope.fail = True
    with pytest.raises(InstrumentError, match="detector fault"):
        safe.acquire([[0, 0]])
    assert scope.calls == ["unblank", "acquire", "blank"]
    scope.calls.clear()
    safe.close()
    assert scope.calls == ["blank", "close"]


def test_bad_points_and_rects() -> None:
    safe = SafeMicroscope(_sim(), SafetyLimits())
    with pytest.raises(InstrumentError, match=r"shape \(n, 2\)"):
        safe.acquire(np.zeros((2, 3)))
    with pytest.raises(InstrumentError, match="whole"):
        safe.acquire([[0.5, 1.0]])
    with pytest.raises(ValidationError, match="row_min < row_max"):
        PixelRect(row_min=3, row_max=3, col_min=0, col_max=1)
    with pytest.raises(ValidationError, match="extra"):
        SafetyLimits.model_validate({"max_dwel_time_s": 1.0})


def test_limits_round_trip() -> None:
    limits = SafetyLimits(
        max_dwell_time_s=0.5,
        no_go_rects=[PixelRect(row_min=0, row_max=1, col_min=0, col_max=1)],
        field_of_view_shape=(8, 12),
    )
    assert SafetyLimits.model_validate(limits.model_dump(mode="json")) == limits
