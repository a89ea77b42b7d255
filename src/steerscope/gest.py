"""steerscope as a gest-api generator: the caller (Bluesky, blop) measures, steerscope chooses.

`gest-api <https://github.com/campa-consortium/gest-api>`_ is the CAMPA standard
for optimisation generators (``suggest`` points, ``ingest`` results) that blop,
Xopt and libEnsemble speak. :class:`SteerscopeGenerator` wraps a
:class:`~steerscope.campaign.Campaign` whose instrument is the caller: the
campaign never moves a beam; ``suggest`` records a decision and returns its
pixels, the caller measures them, and ``ingest`` stores the spectra in the
record and trains the model, exactly as a measurement from a driver would. The
record, the interventions (``generator.campaign.apply(...)``), the web UI's
Review page and ``steerscope replay`` work on it as on any campaign.

The VOCS (:func:`campaign_vocs`) has the variables ``row`` and ``col`` (overview
pixels, discrete), one objective, maximised (the campaign's target, computed
by its scalarizer from the spectrum), and the observable ``spectrum``: the raw
counts ``(C,)`` on the generator's energy axis, which every result must carry
(steerscope keeps every raw spectrum). A result may also give the objective; it
must then agree with the scalarizer.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from gest_api import Generator
from gest_api.vocs import VOCS, DiscreteVariable, MaximizeObjective
from numpy.typing import ArrayLike

from steerscope.campaign import Campaign, load_config
from steerscope.campaign.config import CampaignConfig
from steerscope.errors import ConfigError, InstrumentError
from steerscope.types import EnergyAxis, Measurement, Overview, SignalKind

__all__ = ["CallerMicroscope", "SteerscopeGenerator", "campaign_vocs"]

SPECTRUM = "spectrum"
"""The observable that carries the measured spectrum, shape ``(C,)``."""


def campaign_vocs(shape: tuple[int, int], objective: str = "target") -> VOCS:
    """The VOCS of a steerscope campaign on an ``(H, W)`` overview.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the overview.
    objective : str
        Name of the objective (the campaign's target), maximised.

    Returns
    -------
    VOCS
        Variables ``row`` in ``{0..H-1}`` and ``col`` in ``{0..W-1}``, the
        objective, and the observable ``spectrum``.
    """
    height, width = (int(v) for v in shape)
    return VOCS(
        variables={"row": set(range(height)), "col": set(range(width))},
        objectives={objective: "MAXIMIZE"},
        observables={SPECTRUM},
    )


class CallerMicroscope:
    """The instrument of a campaign measured by its caller: an overview, and no beam of its own.

    Parameters
    ----------
    overview : Overview
        The overview the caller acquired.
    energy : EnergyAxis
        Energy axis of the spectra the caller will return.
    signal_kind : SignalKind
        EELS or EDX.
    """

    def __init__(self, overview: Overview, energy: EnergyAxis, signal_kind: SignalKind) -> None:
        self._overview = overview
        self.energy = energy
        self.signal_kind = SignalKind(signal_kind)

    def overview(self) -> Overview:
        """The caller's overview."""
        return self._overview

    def acquire(self, points: ArrayLike) -> Measurement:
        """Refused: the caller measures, and hands the spectra to ``SteerscopeGenerator.ingest``."""
        raise InstrumentError(
            "this campaign is measured by its caller (a gest-api generator): run `suggest`, "
            "measure the points, and pass the spectra to `ingest`; `step()`/`run()` cannot "
            "acquire."
        )

    def describe(self) -> dict[str, Any]:
        """Driver name, overview shape, energy axis and signal kind (what the record stores)."""
        energy = self.energy
        return {
            "driver": "gest-api caller",
            "overview_shape": list(self._overview.image.shape),
            "energy": {
                "size": energy.size,
                "offset": energy.offset,
                "scale": energy.scale,
                "units": energy.units,
            },
            "signal_kind": self.signal_kind.value,
        }

    def close(self) -> None:
        """Nothing to release."""


class SteerscopeGenerator(Generator):
    """A steerscope campaign behind the gest-api ``suggest``/``ingest`` interface.

    Parameters
    ----------
    vocs : VOCS
        Must be :func:`campaign_vocs` of the overview's shape (any objective name).
    config : CampaignConfig, dict or path of a YAML file
        The campaign's config; it needs a ``scalarizer`` (the caller's spectra have
        no default target). Its ``source`` is replaced by the caller.
    overview : Overview or ndarray of shape (H, W)
        The overview image (an array is taken as ``pixel_units="px"``).
    energy : EnergyAxis
        Energy axis of the spectra the caller will ingest.
    record : str or Path, optional
        The campaign record to create (must not exist); default: a fresh name
        under ``config.records_dir``.
    signal_kind : {"EELS", "EDX"}
        The spectra's kind.

    Attributes
    ----------
    campaign : Campaign
        The campaign: steer it with ``campaign.apply(...)``; read its record.
    """

    returns_id = True

    def __init__(
        self,
        vocs: VOCS,
        config: CampaignConfig | dict[str, Any] | str | Path,
        overview: Overview | ArrayLike,
        energy: EnergyAxis,
        *,
        record: str | Path | None = None,
        signal_kind: SignalKind | str = SignalKind.EELS,
    ) -> None:
        if not isinstance(overview, Overview):
            overview = Overview(np.asarray(overview, dtype=np.float32), 1.0, "px")
        self._shape = (int(overview.image.shape[0]), int(overview.image.shape[1]))
        super().__init__(vocs)  # validates it
        self.vocs = vocs
        self.objective = next(iter(vocs.objectives))
        cfg = load_config(config)
        if cfg.scalarizer is None:
            raise ConfigError(
                "a gest-api campaign needs a `scalarizer` in its config: it turns each "
                "ingested spectrum into the objective, e.g. {kind: window_sum, window: [1.0, 1.6]}."
            )
        self._energy = energy
        self._kind = SignalKind(signal_kind)
        scope = CallerMicroscope(overview, energy, self._kind)
        self.campaign = Campaign.create(cfg, record, instrument=scope)
        if self.campaign.is_multi_objective:
            self.campaign.close()
            raise ConfigError(
                "a gest-api campaign has one objective; the config's scalarizer defines "
                f"{self.campaign.n_objectives}. Give one scalarizer."
            )
        self._outstanding: dict[int, tuple[int, int]] = {}
        self._next_id = 0

    def _validate_vocs(self, vocs: VOCS) -> None:
        """The VOCS must be the campaign's: row/col pixels of the overview, one maximised objective.

        Raises
        ------
        ValueError
            Naming what differs and how to build the right one (:func:`campaign_vocs`).
        """
        hint = f"build it with steerscope.gest.campaign_vocs({self._shape})"
        height, width = self._shape
        expected = {"row": set(range(height)), "col": set(range(width))}
        if set(vocs.variables) != set(expected):
            raise ValueError(
                f"steerscope chooses overview pixels: the VOCS variables must be 'row' and "
                f"'col'; got {sorted(vocs.variables)}. {hint}."
            )
        for name, values in expected.items():
            variable = vocs.variables[name]
            if not isinstance(variable, DiscreteVariable) or set(variable.values) != values:
                raise ValueError(
                    f"the VOCS variable {name!r} must be the discrete set 0..{len(values) - 1} "
                    f"(the overview is {height}×{width} px); got {variable!r}. {hint}."
                )
        objectives = list(vocs.objectives.items())
        if len(objectives) != 1 or not isinstance(objectives[0][1], MaximizeObjective):
            raise ValueError(
                "a steerscope campaign maximises one target: the VOCS needs exactly one "
                f"MAXIMIZE objective; got {[(n, type(o).__name__) for n, o in objectives]}. "
                "To minimise a figure, put a minus sign in the scalarizer's formula."
            )
        if vocs.constraints:
            raise ValueError(
                "a steerscope campaign takes no output constraints; got "
                f"{sorted(vocs.constraints)}. Forbid regions with "
                "campaign.apply(AddNoGoRegion(...)) or safety limits instead."
            )
        if SPECTRUM not in vocs.observables:
            raise ValueError(
                f"the VOCS must declare the observable {SPECTRUM!r} (the raw counts of each "
                f"measured point, which steerscope records). {hint}."
            )

    def suggest(self, num_points: int | None = None) -> list[dict[str, Any]]:
        """The next pixels to measure, recorded as the campaign's next decision.

        Parameters
        ----------
        num_points : int, optional
            How many; default: the campaign's batch size (``policy.batch_size``).
            A different number is set as the batch size (a recorded policy change).

        Returns
        -------
        list of dict
            ``{"row": r, "col": c, "_id": i}`` per point.

        Raises
        ------
        ValueError
            If earlier suggestions are not ingested yet, the budget is spent, or
            fewer than ``num_points`` points are left to choose from.
        """
        from steerscope.campaign import SetPolicy

        if self._outstanding:
            raise ValueError(
                f"{len(self._outstanding)} suggested point(s) are not ingested yet (ids "
                f"{sorted(self._outstanding)}); ingest their results before asking for more."
            )
        campaign = self.campaign
        if campaign.done:
            raise ValueError(f"the campaign is done: {campaign.done_reason()}")
        if num_points is not None:
            if num_points < 1:
                raise ValueError(f"num_points must be at least 1; got {num_points}.")
            if campaign.config.policy.batch_size != num_points:
                campaign.apply(SetPolicy(batch_size=int(num_points)))
        proposal = campaign.ask()
        points = [(int(r), int(c)) for r, c in proposal.points]
        if num_points is not None and len(points) != num_points:
            raise ValueError(
                f"the campaign can give {len(points)} point(s) now, not {num_points} (budget left "
                f"{campaign.config.budget.measurements - campaign.n_measured}, or seed or "
                "hand-added points come first); ask for fewer."
            )
        campaign.record_decision(proposal)
        suggested = []
        for point in points:
            self._outstanding[self._next_id] = point
            suggested.append({"row": point[0], "col": point[1], "_id": self._next_id})
            self._next_id += 1
        return suggested

    def ingest(self, results: list[dict[str, Any]]) -> None:
        """Record measured spectra and learn from them.

        Parameters
        ----------
        results : list of dict
            Each with ``row``, ``col``, ``spectrum`` (counts, shape ``(C,)``) and the
            ``_id`` of the suggestion it answers (omitted for a point steerscope did
            not suggest, allowed only while no suggestion is outstanding). The
            objective may be given; it must equal the scalarizer's value.

        Raises
        ------
        ValueError
            An unknown ``_id``, a position that does not match its suggestion, a
            spectrum of the wrong length, or an objective that disagrees with the
            scalarizer. Nothing of a refused batch is recorded.
        """
        points, spectra = [], []
        answered: list[int] = []
        for i, result in enumerate(results):
            point = self._position(result, i)
            if "_id" in result:
                key = result["_id"]
                if key not in self._outstanding or key in answered:
                    raise ValueError(
                        f"result {i}: unknown _id {key!r}; outstanding: "
                        f"{sorted(self._outstanding)}."
                    )
                if self._outstanding[key] != point:
                    raise ValueError(
                        f"result {i}: _id {key} was suggested at {self._outstanding[key]}, "
                        f"the result says {point}."
                    )
                answered.append(key)
            elif self._outstanding:
                raise ValueError(
                    f"result {i} at {point} has no _id while suggested points are outstanding "
                    f"({sorted(self._outstanding)}); ingest those first, then points of your own."
                )
            points.append(point)
            spectra.append(self._spectrum(result, i))
        if not points:
            return
        measurement = Measurement(
            points=np.asarray(points, dtype=np.int64),
            spectra=np.stack(spectra),
            energy=self._energy,
            signal_kind=self._kind,
            acquired_at=np.full(len(points), time.time()),
            dwell_time_s=0.0,
            metadata={"source": "gest-api ingest"},
        )
        self._check_objectives(results, measurement)
        if answered:
            self.campaign.tell(measurement)
        else:
            self._tell_foreign(measurement)
        for key in answered:
            del self._outstanding[key]

    def _position(self, result: dict[str, Any], i: int) -> tuple[int, int]:
        try:
            row, col = result["row"], result["col"]
        except KeyError as exc:
            raise ValueError(
                f"result {i} has no {exc.args[0]!r}; expected row, col, spectrum."
            ) from None
        if not all(isinstance(v, int | np.integer) for v in (row, col)):
            raise ValueError(f"result {i}: row and col must be integers; got {row!r}, {col!r}.")
        height, width = self._shape
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(
                f"result {i}: ({row}, {col}) lies outside the {height}×{width} overview."
            )
        return int(row), int(col)

    def _spectrum(self, result: dict[str, Any], i: int) -> np.ndarray:
        if SPECTRUM not in result:
            raise ValueError(
                f"result {i} has no {SPECTRUM!r}: steerscope records the raw counts of every "
                "measured point and computes the objective from them."
            )
        spectrum = np.asarray(result[SPECTRUM], dtype=np.float64).reshape(-1)
        if spectrum.shape[0] != self._energy.size:
            raise ValueError(
                f"result {i}: the spectrum has {spectrum.shape[0]} channels, the energy axis "
                f"{self._energy.size}."
            )
        return spectrum

    def _check_objectives(self, results: list[dict[str, Any]], measurement: Measurement) -> None:
        given = [r.get(self.objective) for r in results]
        if all(v is None for v in given):
            return
        scalarizer = self.campaign.config.scalarizer
        assert scalarizer is not None  # checked at construction
        from steerscope.scalarizers import parse_scalarizer

        computed = parse_scalarizer(scalarizer).apply(measurement.spectra, self._energy)
        for i, (value, ours) in enumerate(
            zip(given, np.asarray(computed).reshape(-1), strict=True)
        ):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if not math.isclose(float(value), float(ours), rel_tol=1e-6, abs_tol=1e-9):
                raise ValueError(
                    f"result {i}: {self.objective} = {value!r}, but the campaign's scalarizer "
                    f"gives {float(ours):.6g} for this spectrum. Leave {self.objective!r} out "
                    "(steerscope computes it), or set the scalarizer to the figure you compute."
                )

    def _tell_foreign(self, measurement: Measurement) -> None:
        """Points the caller measured on its own: recorded as a hand-added decision first."""
        from steerscope.campaign.proposals import Proposal

        proposal = Proposal.unscored(measurement.points, "operator", self.campaign.conditioning())
        self.campaign.record_decision(proposal)
        self.campaign.tell(measurement)

    def finalize(self) -> None:
        """Close the campaign and its record (the outstanding points stay in it as pending)."""
        self.campaign.close()
