"""The operator's votes on measured spectra: recorded, replayed, and made into a target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steerscope.campaign import Campaign, SetScalarizer, Vote, describe_intervention
from steerscope.datasets import get_dataset
from steerscope.errors import ConfigError
from steerscope.records import CampaignRecord
from steerscope.scalarizers import parse_scalarizer
from steerscope.ui.campaign_tools import votes_target


def small_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "votes",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 10},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 12},
        "seed": 0,
    }
    config.update(overrides)
    return config


def test_votes_are_recorded_withdrawn_and_kept_across_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    with Campaign.create(small_config(), path) as campaign:
        campaign.run(n_steps=6)
        ahead = campaign.queue_proposal()
        assert ahead is not None
        campaign.apply(Vote(0, "good"))
        campaign.apply(Vote(3, "bad"))
        campaign.apply(Vote(4, "good"))
        campaign.apply(Vote(4, "none"))  # withdrawn
        assert campaign.votes == {0: "good", 3: "bad"}
        assert campaign.is_current(ahead)  # a vote changes no setting: nothing superseded
        with pytest.raises(ConfigError, match=r"spectrum #7 has not been measured \(6 so far\)"):
            campaign.apply(Vote(6, "good"))
        texts = [e.text for e in campaign.events if e.kind == "intervention"]
    with Campaign.resume(path) as resumed:
        assert resumed.votes == {0: "good", 3: "bad"}
    with CampaignRecord.open(path, read_only=True) as record:
        votes = [i for i in record.interventions() if i.kind == "Vote"]
    assert [(v.before["verdict"], v.after["verdict"]) for v in votes] == [
        ("none", "good"),
        ("none", "bad"),
        ("none", "good"),
        ("good", "none"),
    ]
    assert "Vote: spectrum #1 marked good" in texts
    assert "Vote: vote on spectrum #5 withdrawn" in texts


@pytest.mark.parametrize(
    ("args", "message"),
    [((-1, "good"), ">= 0"), ((1, "great"), "good, bad, none"), (("3", "good"), "integer")],
)
def test_a_malformed_vote_says_what_was_expected(args: tuple[Any, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Vote(*args)


def test_the_votes_target_ranks_spectra_like_the_good_ones_first(tmp_path: Path) -> None:
    """Marked on the plasmonic sample by what the window target says (the operator's eye),
    the votes make a target that ranks the whole sample's spectra much as the window does.

    The campaign picks its spectra at random (seeded), so which are voted on does not
    depend on the machine's floating point; the ranking is judged on all 4096 spectra.
    """
    path = tmp_path / "t.sqlite"
    config = small_config(budget={"measurements": 24}, policy={"acquisition": "random"})
    with Campaign.create(config, path) as campaign:
        campaign.run()
        window = campaign.targets().copy()
        order = np.argsort(window)
        good, bad = [int(i) for i in order[-3:]], [int(i) for i in order[:3]]
        for i in good:
            campaign.apply(Vote(i, "good"))
        for i in bad:
            campaign.apply(Vote(i, "bad"))
        spec = votes_target(path, sorted(campaign.votes.items()))
        assert spec["kind"] == "similarity" and spec["n_votes"] == 6 and "unlike" in spec
        assert describe_intervention(SetScalarizer(spec=spec)) == "target → similarity"
        campaign.apply(SetScalarizer(spec=spec))
        likeness = campaign.targets()  # every stored spectrum relabelled
    assert likeness[good].min() > likeness[bad].max()
    data = get_dataset("plasmonic_nanoparticles")
    spectra = data.image.spectra.reshape(-1, data.image.spectra.shape[-1])
    by_window = parse_scalarizer(data.default_scalarizer).apply(spectra, data.image.energy)
    by_votes = parse_scalarizer(spec).apply(spectra, data.image.energy)
    top = by_window >= np.quantile(by_window, 0.9)
    ranks = np.argsort(np.argsort(by_votes))
    auc = (ranks[top].mean() - (top.sum() - 1) / 2) / (~top).sum()
    assert auc > 0.65, auc  # 0.73 here: the window's top 10 % ranked above the rest
    liked = by_votes >= np.quantile(by_votes, 0.95)
    assert by_window[liked].mean() > 1.5 * by_window.mean()  # 1.9× here


def test_no_good_vote_no_target(tmp_path: Path) -> None:
    with Campaign.create(small_config(), tmp_path / "n.sqlite") as campaign:
        campaign.run(n_steps=4)
        campaign.apply(Vote(1, "bad"))
        with pytest.raises(ConfigError, match="mark at least one measured spectrum good"):
            votes_target(tmp_path / "n.sqlite", sorted(campaign.votes.items()))


def test_the_simulated_operator_votes_the_best_good_and_the_worst_bad() -> None:
    from steerscope.testing.simulated_operator import SimulatedOperator
    from steerscope.types import EnergyAxis

    axis = EnergyAxis(size=4, offset=0.0, scale=1.0, units="eV")
    spectra = np.array([[0.0, float(k), 0.0, 0.0] for k in range(10)])  # target = k
    hidden = {"kind": "window_sum", "window": [0.5, 1.5]}  # channel 1 alone
    honest = SimulatedOperator(hidden, axis, error_rate=0.0, share=0.2)
    assert honest.votes(spectra) == [(0, "bad"), (1, "bad"), (8, "good"), (9, "good")]
    wrong = SimulatedOperator(hidden, axis, error_rate=0.5, share=0.2, seed=1)
    flips = [
        sum(
            v != h
            for (_, v), (_, h) in zip(wrong.votes(spectra), honest.votes(spectra), strict=True)
        )
        for _ in range(200)
    ]
    assert 0.4 < np.mean(flips) / 4 < 0.6  # half the votes the wrong way round
    assert honest.votes(spectra[:1]) == []
    with pytest.raises(ConfigError, match="error_rate"):
        SimulatedOperator(hidden, axis, error_rate=0.7)


def test_the_simulated_operator_cannot_tell_apart_what_lies_within_its_indifference() -> None:
    from steerscope.testing.simulated_operator import SimulatedOperator
    from steerscope.types import EnergyAxis

    axis = EnergyAxis(size=4, offset=0.0, scale=1.0, units="eV")
    hidden = {"kind": "window_sum", "window": [0.5, 1.5]}  # channel 1 alone

    def spectra(*targets: float) -> np.ndarray:
        return np.array([[0.0, t, 0.0, 0.0] for t in targets])

    # 0 and 1 are bad, 8 and 9 good; 1 is as bright as 2 within a tenth of the range
    near = spectra(0, 1.0, 1.5, 4, 5, 6, 7, 7.5, 8.0, 9)
    fussy = SimulatedOperator(hidden, axis, error_rate=0.0, share=0.2, indifference=0.1)
    assert fussy.votes(near) == [(0, "bad"), (9, "good")]
    sharp = SimulatedOperator(hidden, axis, error_rate=0.0, share=0.2)
    assert sharp.votes(near) == [(0, "bad"), (1, "bad"), (8, "good"), (9, "good")]
    # pairs: by the hidden target, "none" within the band, flips at the error rate
    a, b, c = spectra(5.0, 5.4, 9.0)
    assert fussy.prefer(a, c, scale=9) == "second" and fussy.prefer(c, a, scale=9) == "first"
    assert fussy.prefer(a, b, scale=9) == "none" and sharp.prefer(a, b, scale=9) == "second"
    noisy = SimulatedOperator(hidden, axis, error_rate=0.25, seed=2)
    wrong = sum(noisy.prefer(a, c) == "first" for _ in range(400))
    assert 0.18 < wrong / 400 < 0.32
    with pytest.raises(ConfigError, match="indifference"):
        SimulatedOperator(hidden, axis, indifference=1.5)
