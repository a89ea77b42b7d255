"""The operator's pairwise judgements as the target: utility model, campaign, record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

from steerscope.campaign import Campaign, Compare, SetScalarizer, Vote, describe_intervention
from steerscope.campaign.targets import MAX_VOTE_PAIRS, Targets
from steerscope.datasets import get_dataset
from steerscope.errors import ConfigError, ModelError, ScalarizerError
from steerscope.models.preference import PreferenceModel, hyperparameter_count
from steerscope.records import CampaignRecord
from steerscope.scalarizers import PreferenceSpec, parse_scalarizer
from steerscope.testing.simulated_operator import SimulatedOperator
from steerscope.types import EnergyAxis


def small_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "preference",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "scalarizer": {"kind": "preference"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 10},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 14},
        "seed": 0,
    }
    config.update(overrides)
    return config


def answer_every_question(campaign: Campaign, operator: SimulatedOperator) -> int:
    """Let the simulated operator answer each question the campaign has; how many."""
    asked = 0
    pair = campaign.next_comparison()
    while pair is not None:
        spectra = campaign.measured_spectra
        campaign.apply(Compare(*pair, operator.prefer(spectra[pair[0]], spectra[pair[1]])))
        asked += 1
        pair = campaign.next_comparison()
    return asked


# -- the spec ------------------------------------------------------------------------------


def test_a_preference_target_has_no_formula_and_says_where_it_comes_from() -> None:
    spec = parse_scalarizer({"kind": "preference", "components": 3})
    energy = EnergyAxis(size=8, offset=0.0, scale=0.1)
    with pytest.raises(ScalarizerError, match="learned from the operator's comparisons"):
        spec.apply(np.ones((2, 8)), energy)
    with pytest.raises(ScalarizerError, match="does not match any of the expected tags"):
        parse_scalarizer({"kind": "multi", "targets": [{"kind": "preference"}]})


def test_the_descriptors_are_fixed_by_the_basis_rows_alone() -> None:
    rng = np.random.default_rng(0)
    energy = EnergyAxis(size=30, offset=0.0, scale=0.1)
    spectra = rng.poisson(50.0, size=(40, 30)).astype(float)
    spec = PreferenceSpec(components=4)
    first = spec.features(spectra[:20], energy, basis_rows=10)
    later = spec.features(spectra, energy, basis_rows=10)  # 20 more spectra measured since
    assert first.shape == (20, 4)
    np.testing.assert_allclose(later[:20], first)
    np.testing.assert_allclose(first[:10].std(axis=0), 1.0)
    with pytest.raises(ScalarizerError, match=r"basis_rows must lie in \[1, 40\]"):
        spec.features(spectra, energy, basis_rows=0)


# -- the utility model ----------------------------------------------------------------------


def test_hyperparameters_are_refitted_on_a_schedule_not_at_every_judgement() -> None:
    counts = [hyperparameter_count(m) for m in range(0, 26)]
    assert counts[:10] == [0, 1, 2, 3, 4, 4, 6, 6, 8, 8]
    assert counts[12:17] == [12, 12, 12, 12, 16]
    assert counts[24:] == [24, 24]


def test_the_utility_learns_the_order_the_judgements_come_from() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 2))
    hidden = features[:, 0] - 0.5 * features[:, 1]
    pairs = [tuple(int(v) for v in rng.choice(40, 2, replace=False)) for _ in range(60)]
    comparisons = [(a, b) if hidden[a] > hidden[b] else (b, a) for a, b in pairs]
    model = PreferenceModel(features, comparisons)
    mean, var = model.utility()
    assert spearmanr(mean, hidden)[0] > 0.85
    assert np.all(var >= 0)
    # the same comparisons and hyperparameters give the same utility (a replay)
    again = PreferenceModel(features, comparisons, hyperparameters=model.hyperparameters)
    twice = PreferenceModel(features, comparisons, hyperparameters=model.hyperparameters)
    np.testing.assert_array_equal(again.utility()[0], twice.utility()[0])
    np.testing.assert_allclose(again.utility()[0], mean, rtol=1e-3)


def test_before_any_judgement_the_utility_is_flat_and_the_first_pair_the_least_alike() -> None:
    features = np.array([[0.0, 0.0], [0.1, 0.0], [3.0, 3.0], [0.2, 0.1]])
    model = PreferenceModel(features, np.zeros((0, 2)))
    mean, var = model.utility()
    np.testing.assert_array_equal(mean, 0.0)
    np.testing.assert_array_equal(var, 1.0)
    assert model.best_partner(0) == 2
    assert model.best_partner(0, asked={(2, 0)}) == 3  # asked already, in either order
    assert model.best_partner(0, asked={(0, 1), (0, 2), (0, 3)}) is None


def test_the_next_partner_of_a_new_spectrum_is_never_one_already_asked() -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(12, 2))
    model = PreferenceModel(features, [(0, 1), (2, 3), (4, 5)])
    asked = {(11, j) for j in range(10)}
    assert model.best_partner(11, asked) == 10


@pytest.mark.parametrize(
    ("comparisons", "message"),
    [([(0, 5)], "must index the 3 described spectra"), ([(1, 1)], "two different spectra")],
)
def test_malformed_comparisons_say_what_was_expected(comparisons: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        PreferenceModel(np.zeros((3, 2)), comparisons)


# -- the intervention -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 2, "first"), ">= 0"),
        ((1, 1, "first"), "two different spectra"),
        ((1, 2, "left"), "first, second, none"),
        (("1", 2, "first"), "integer"),
    ],
)
def test_a_malformed_comparison_says_what_was_expected(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Compare(*args)


def test_a_comparison_reads_as_words() -> None:
    assert describe_intervention(Compare(11, 6, "first")) == "spectrum #12 preferred to #7"
    assert describe_intervention(Compare(11, 6, "second")) == "spectrum #7 preferred to #12"
    assert describe_intervention(Compare(0, 1, "none")) == "no preference between #1 and #2"


# -- in a campaign --------------------------------------------------------------------------


def test_each_judgement_relabels_the_spectra_and_a_resume_gives_the_same_utility(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.sqlite"
    data = get_dataset("plasmonic_nanoparticles")
    operator = SimulatedOperator(dict(data.default_scalarizer), data.image.energy, error_rate=0.0)
    with Campaign.create(small_config(), path) as campaign:
        campaign.run(n_steps=4)
        assert campaign.learned_target
        np.testing.assert_array_equal(campaign.targets(), 0.0)  # nobody has judged yet
        pair = campaign.next_comparison()
        assert pair is not None and pair[0] == campaign.n_measured - 1  # the newest first
        ahead = campaign.queue_proposal()
        campaign.apply(Compare(pair[0], pair[1], "first", by="Ada"))
        judged = campaign.targets()
        assert judged[pair[0]] > judged[pair[1]]
        assert ahead is None or campaign.is_current(ahead)  # a judgement supersedes nothing
        asked = 1 + answer_every_question(campaign, operator)
        assert asked == campaign.n_measured  # at most one question per spectrum measured
        assert campaign.next_comparison() is None
        campaign.run(n_steps=3)
        asked += answer_every_question(campaign, operator)
        assert asked == len(campaign.comparisons) == campaign.n_measured
        targets = campaign.targets()
        with pytest.raises(ConfigError, match=r"spectrum #99 has not been measured"):
            campaign.apply(Compare(98, 0, "first"))
    with Campaign.resume(path) as resumed:
        assert resumed.comparisons == campaign.comparisons
        np.testing.assert_allclose(resumed.targets(), targets, atol=1e-9)
    with CampaignRecord.open(path, read_only=True) as record:
        recorded = [i.after for i in record.interventions() if i.kind == "Compare"]
    assert recorded[0] == {"first": pair[0], "second": pair[1], "answer": "first", "by": "Ada"}
    assert "by" not in recorded[1]  # nobody named
    assert len(recorded) == asked


def test_a_campaign_switches_to_its_operators_judgement_and_back(tmp_path: Path) -> None:
    data = get_dataset("plasmonic_nanoparticles")
    formula = dict(data.default_scalarizer)
    operator = SimulatedOperator(formula, data.image.energy, error_rate=0.0)
    with Campaign.create(small_config(scalarizer=formula), tmp_path / "m.sqlite") as campaign:
        campaign.run(n_steps=6)
        answer_every_question(campaign, operator)  # kept while a formula is the target
        by_formula = campaign.targets().copy()
        assert not campaign.learned_target
        campaign.apply(SetScalarizer(spec={"kind": "preference"}))
        utility = campaign.targets()
        judged = [(a, b, x) for a, b, x in campaign.comparisons if x != "none"]
        decisive = [(a, b) if x == "first" else (b, a) for a, b, x in judged]
        assert decisive and all(utility[w] > utility[lo] for w, lo in decisive)
        assert np.argmax(utility) == np.argmax(by_formula)  # the judgements came from it
        campaign.run(n_steps=2)
        campaign.apply(SetScalarizer(spec=formula))
        np.testing.assert_allclose(campaign.targets()[:6], by_formula)
        kinds = [e.text for e in campaign.events if e.kind == "intervention"]
    assert any("utility from the operator's comparisons" in text for text in kinds)


def test_votes_and_scores_are_learnt_as_a_ranking_under_a_preference_target(
    tmp_path: Path,
) -> None:
    with Campaign.create(small_config(), tmp_path / "v.sqlite") as campaign:
        campaign.run(n_steps=6)
        campaign.apply(Vote(0, "good"))
        campaign.apply(Vote(1, 4))  # a score, as an integer
        campaign.apply(Vote(2, "2"))
        campaign.apply(Vote(3, "bad"))
        utility = campaign.targets()
        assert utility[0] > utility[1] > utility[2] > utility[3]
        campaign.apply(Vote(0, "none"))  # withdrawn: no longer above the others
        assert campaign.votes == {1: "4", 2: "2", 3: "bad"}
        assert not np.allclose(campaign.targets(), utility)
    assert describe_intervention(Vote(1, 4)) == "spectrum #2 scored 4/5"
    with pytest.raises(ConfigError, match="good, bad, none, 1, 2, 3, 4, 5"):
        Vote(1, 6)


def test_many_votes_imply_at_most_a_bounded_number_of_comparisons() -> None:
    targets = Targets(PreferenceSpec(), lambda kind, text: None)
    for i in range(120):
        targets.set_vote(i, str(1 + i % 5))
    pairs = targets.decisive(120)
    assert 0 < len(pairs) <= MAX_VOTE_PAIRS
    assert all(int(targets.votes[a]) > int(targets.votes[b]) for a, b in pairs)


def _comparison_matrix(pairs: list[tuple[int, int]], n: int) -> Any:
    import torch

    D = torch.zeros(len(pairs), n, dtype=torch.float64)
    for m, (a, b) in enumerate(pairs):
        D[m, a], D[m, b] = 1.0, -1.0
    return D


def _autograd_nll(likelihood: Any, utility: Any, D: Any) -> tuple[np.ndarray, np.ndarray]:
    import torch

    nll = -torch.log(likelihood.p(utility, D)).sum()
    (grad,) = torch.autograd.grad(nll, utility, create_graph=True)
    rows = [torch.autograd.grad(g, utility, retain_graph=True)[0] for g in grad]
    return grad.detach().numpy(), torch.stack(rows).detach().numpy()


@pytest.mark.parametrize(
    ("pairs", "all_agree"),
    [([(0, 1), (2, 0), (2, 3), (0, 3)], True), ([(0, 1), (1, 2), (3, 2), (2, 0)], False)],
)
def test_the_lapse_likelihood_gives_the_laplace_fit_its_gradient_and_a_usable_curvature(
    pairs: list[tuple[int, int]], all_agree: bool
) -> None:
    import torch

    from steerscope.models.preference import lapse_probit_likelihood

    likelihood = lapse_probit_likelihood(0.1)
    utility = torch.tensor([0.3, -1.2, 2.0, 0.1], dtype=torch.float64, requires_grad=True)
    D = _comparison_matrix(pairs, 4)
    grad, hessian = _autograd_nll(likelihood, utility, D)
    np.testing.assert_allclose(likelihood.negative_log_gradient_sum(utility, D).detach(), grad)
    ours = likelihood.negative_log_hessian_sum(utility, D).detach().numpy()
    assert np.linalg.eigvalsh(ours).min() >= -1e-12  # a Laplace covariance exists
    assert likelihood.p(utility, D).min() > 0.1  # a wrong answer is never impossible
    if all_agree:  # the curvature is exact where it is positive
        np.testing.assert_allclose(ours, hessian, atol=1e-12)
    else:  # (1, 2) is a far violated answer: its curvature is negative, and dropped
        assert np.linalg.eigvalsh(hessian).min() < 0


def test_a_lapse_rate_must_leave_the_answers_some_weight() -> None:
    from steerscope.models.preference import lapse_probit_likelihood

    with pytest.raises(ModelError, match=r"lapse rate must lie in \[0, 0.5\)"):
        lapse_probit_likelihood(0.5)


def test_with_a_lapse_one_wrong_answer_about_very_different_spectra_pulls_the_utility_less() -> (
    None
):
    features = np.linspace(-2, 2, 9)[:, None]
    truth = [(j, i) for i in range(9) for j in range(i + 1, 9) if j - i <= 2]  # higher is better
    flipped = [*truth, (0, 8)]  # one answer says the worst beats the best
    pull = {}
    for lapse in (0.0, 0.1):
        right, _ = PreferenceModel(features, truth, lapse=lapse).utility()
        wrong, _ = PreferenceModel(features, flipped, lapse=lapse).utility()
        pull[lapse] = (right[8] - right[0]) / (wrong[8] - wrong[0])  # how much it shrank
    print(pull)
    assert pull[0.1] < pull[0.0]
