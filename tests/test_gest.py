"""steerscope driven through the gest-api generator interface, as blop would drive it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gest_api.vocs import VOCS

from steerscope.campaign import SetPolicy
from steerscope.datasets import get_dataset
from steerscope.errors import InstrumentError
from steerscope.gest import SteerscopeGenerator, campaign_vocs
from steerscope.records import CampaignRecord

CONFIG: dict[str, Any] = {
    "name": "blop",
    "source": {"dataset": "plasmonic_nanoparticles"},  # replaced by the caller
    "scalarizer": {"kind": "window_sum", "window": [1.0, 1.8]},
    "descriptor": {"patch_size": 4},
    "model": {"kind": "exact_gp", "exact_iterations": 10},
    "seed_points": {"kind": "grid", "n": 4},
    "budget": {"measurements": 14},
    "seed": 0,
}


@pytest.fixture
def sample() -> Any:
    return get_dataset("plasmonic_nanoparticles").image


@pytest.fixture
def generator(sample: Any, tmp_path: Path) -> Any:
    vocs = campaign_vocs(sample.overview_shape, objective="plasmon")
    gen = SteerscopeGenerator(
        vocs, CONFIG, sample.overview, sample.energy, record=tmp_path / "blop.sqlite"
    )
    yield gen
    gen.finalize()


def _measure(sample: Any, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the caller does: park the beam at each point and read the spectrum."""
    pixels = np.array([[p["row"], p["col"]] for p in points])
    spectra = sample.spectra_at(pixels)
    return [{**p, "spectrum": s} for p, s in zip(points, spectra, strict=True)]


def test_a_suggest_ingest_loop_runs_the_campaign_to_its_budget(
    generator: Any, sample: Any, tmp_path: Path
) -> None:
    sources = []
    while not generator.campaign.done:
        points = generator.suggest(2 if generator.campaign.n_measured >= 8 else None)
        assert {"row", "col", "_id"} <= set(points[0])
        generator.ingest(_measure(sample, points))
        sources.append(generator.campaign.record.decisions()[-1].policy["source"])
    assert sources[:4] == ["seed"] * 4
    assert set(sources[4:]) == {"model"}
    assert generator.campaign.n_measured == 14
    with pytest.raises(ValueError, match="the campaign is done"):
        generator.suggest(1)
    generator.finalize()
    with CampaignRecord.open(tmp_path / "blop.sqlite", read_only=True) as record:
        measured = record.measurements()
        kinds = [i.kind for i in record.interventions()]
    assert len(measured) == 14 and len({tuple(p) for p in measured.points.tolist()}) == 14
    window = (measured.energy.values >= 1.0 - 1e-9) & (measured.energy.values <= 1.8 + 1e-9)
    truth = sample.spectra_at(measured.points)
    np.testing.assert_allclose(measured.spectra, truth)  # the raw spectra are kept
    assert np.all(np.isfinite(measured.spectra[:, window].sum(axis=1)))
    assert kinds == ["SetPolicy"]  # suggest(2): the batch size change, recorded


def test_results_that_do_not_match_are_refused_and_nothing_is_recorded(
    generator: Any, sample: Any
) -> None:
    (point,) = generator.suggest(1)
    (result,) = _measure(sample, [point])
    with pytest.raises(ValueError, match="unknown _id 99"):
        generator.ingest([{**result, "_id": 99}])
    with pytest.raises(ValueError, match="was suggested at"):
        generator.ingest([{**result, "row": (result["row"] + 1) % 128}])
    with pytest.raises(ValueError, match="has no 'spectrum'"):
        generator.ingest([{k: v for k, v in result.items() if k != "spectrum"}])
    with pytest.raises(ValueError, match="spectrum has 3 channels"):
        generator.ingest([{**result, "spectrum": [1.0, 2.0, 3.0]}])
    with pytest.raises(ValueError, match="scalarizer gives"):
        generator.ingest([{**result, "plasmon": -1.0}])
    with pytest.raises(ValueError, match="not ingested yet"):
        generator.suggest(1)
    assert generator.campaign.n_measured == 0
    window = (sample.energy.values >= 1.0 - 1e-9) & (sample.energy.values <= 1.8 + 1e-9)
    generator.ingest([{**result, "plasmon": float(np.sum(result["spectrum"][window]))}])
    assert generator.campaign.n_measured == 1


def test_points_the_caller_measured_on_its_own_are_recorded_as_added_by_hand(
    generator: Any, sample: Any
) -> None:
    generator.ingest(_measure(sample, [{"row": 3, "col": 4}]))
    decision = generator.campaign.record.decisions()[-1]
    assert decision.policy["source"] == "operator"
    (point,) = generator.suggest(1)
    with pytest.raises(ValueError, match="no _id while suggested points are outstanding"):
        generator.ingest(_measure(sample, [{"row": 5, "col": 6}]))
    generator.ingest(_measure(sample, [point]))
    assert generator.campaign.n_measured == 2


def test_the_campaign_never_acquires_by_itself_and_can_be_steered(generator: Any) -> None:
    with pytest.raises(InstrumentError, match="measured by its caller"):
        generator.campaign.step()
    generator.campaign.apply(SetPolicy(beta=4.0))
    assert generator.campaign.config.policy.beta == 4.0


def test_a_vocs_that_is_not_the_campaigns_is_refused(sample: Any, tmp_path: Path) -> None:
    args = (CONFIG, sample.overview, sample.energy)
    shape = sample.overview_shape
    wrong = [
        (VOCS(variables={"x": [0.0, 1.0]}, objectives={"f": "MAXIMIZE"}), "must be 'row' and"),
        (campaign_vocs((shape[0], shape[1] - 1)), "discrete set 0..127"),
        (
            VOCS(
                variables={"row": set(range(shape[0])), "col": set(range(shape[1]))},
                objectives={"f": "MINIMIZE"},
                observables={"spectrum"},
            ),
            "one MAXIMIZE objective",
        ),
        (
            VOCS(
                variables={"row": set(range(shape[0])), "col": set(range(shape[1]))},
                objectives={"f": "MAXIMIZE"},
            ),
            "observable 'spectrum'",
        ),
    ]
    for vocs, message in wrong:
        with pytest.raises(ValueError, match=message):
            SteerscopeGenerator(vocs, *args, record=tmp_path / "x.sqlite")
    assert not (tmp_path / "x.sqlite").exists()


def test_the_example_of_docs_gest_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parents[1] / "docs" / "gest.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace('"measurements": 100', '"measurements": 8')
    truth = get_dataset("plasmonic_nanoparticles").ground_truth
    rng = np.random.default_rng(0)
    energy = -20.0 + 0.25 * np.arange(2048)
    in_window = (energy >= 1.0) & (energy <= 1.8)

    def acquire_spectrum(row: int, col: int) -> np.ndarray:
        counts = rng.poisson(5.0, size=2048).astype(float)
        counts[in_window] += truth[row, col]
        return counts

    monkeypatch.chdir(tmp_path)
    namespace = {
        "take_haadf": lambda: truth.astype(np.float32),
        "acquire_spectrum": acquire_spectrum,
    }
    exec(compile(code, "docs/gest.md", "exec"), namespace)
    with CampaignRecord.open(tmp_path / "records" / "bluesky-run.sqlite", read_only=True) as rec:
        assert len(rec.measurements()) == 8
