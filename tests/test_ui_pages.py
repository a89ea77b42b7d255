"""Every UI page driven by Streamlit's AppTest: widgets present, errors as form errors, a run.

AppTest runs the real ``app.py`` (``st.navigation``) in this process. ``st.cache_resource``
is shared across AppTests in one process, so the fixture stops every runner and clears it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from steerscope.ui import APP_PATH, state

PAGES = APP_PATH.parent / "views"
DATASET = "plasmonic_nanoparticles"


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "records"
    monkeypatch.setenv("STEERSCOPE_RECORDS", str(folder))
    monkeypatch.setenv("STEERSCOPE_DEMO_DATASET", DATASET)
    state.stop_all_runners(10.0)
    st.cache_resource.clear()
    yield folder
    state.stop_all_runners(30.0)
    st.cache_resource.clear()


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=90)
    at.run()
    if page is not None:
        at.switch_page(str(PAGES / f"{page}.py"))
        at.run()
    _no_exception(at)
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _start(at: AppTest, *, budget: int, n_seeds: int = 3) -> state.RegistryEntry:
    """Set exact GP, ``n_seeds`` seeds and ``budget`` on the New-campaign form, press Start."""
    at.selectbox(key="campaign.model").set_value("exact_gp")
    at.number_input(key="campaign.n_seeds").set_value(n_seeds)
    at.number_input(key="campaign.budget").set_value(budget)
    next(b for b in at.button if b.label == "Start").click().run()
    _no_exception(at)
    entry = state.registry().latest()
    assert entry is not None
    return entry


def test_source_page_offers_every_source_and_opens_the_demo_dataset(records: Path) -> None:
    at = _app()
    assert at.radio[0].label == "Source kind"
    assert at.radio[0].options == ["Built-in dataset", "File", "Microscope server"]
    assert at.selectbox[0].value == DATASET
    assert "Open dataset" in [b.label for b in at.button]
    assert any("built-in dataset plasmonic_nanoparticles" in h.value for h in at.subheader)
    at.radio[0].set_value("remote").run()
    assert [t.label for t in at.text_input] == ["Server URI", "Token"]
    at.radio[0].set_value("file").run()
    at.text_input[0].set_value(str(records / "missing.hspy")).run()
    next(b for b in at.button if b.label == "Open file").click().run()
    _no_exception(at)
    assert at.error and "missing.hspy" in at.error[0].value


def test_learning_mode_shows_the_walkthrough(records: Path) -> None:
    at = _app()
    assert not at.expander
    at.sidebar.toggle[0].set_value(True).run()
    assert any("overview is all the agent sees" in e.label for e in at.expander)


def test_target_page_bad_window_is_a_form_error_and_a_good_one_saves(records: Path) -> None:
    at = _app("target")
    assert [n.label for n in at.number_input][:2] == ["Window low (eV)", "Window high (eV)"]
    assert at.selectbox(key="target.kind").value == "window_sum"
    at.number_input(key="target.low").set_value(9.0)
    at.number_input(key="target.high").set_value(10.0).run()
    _no_exception(at)
    assert len(at.error) == 1
    assert "lies outside the energy axis 0.00–5.98 eV" in at.error[0].value
    at.number_input(key="target.low").set_value(1.0)
    at.number_input(key="target.high").set_value(1.8).run()
    assert not at.error
    next(b for b in at.button if b.label == "Save target").click().run()
    assert at.success and "Σ 1.00–1.80" in at.success[0].value
    at.selectbox(key="target.kind").set_value("window_ratio").run()
    assert "Denominator low (eV)" in [n.label for n in at.number_input]


def test_campaign_starts_on_the_simulator_shows_progress_and_takes_beta(records: Path) -> None:
    at = _app("campaign")
    labels = [n.label for n in at.number_input]
    for label in (
        "Number of seed points",
        "Initial exploration weight (β)",
        "Budget (measurements)",
    ):
        assert label in labels
    at.selectbox(key="campaign.model").set_value("exact_gp")
    at.number_input(key="campaign.n_seeds").set_value(3)
    at.number_input(key="campaign.budget").set_value(8)
    at.number_input(key="campaign.start_beta").set_value(0.25)
    at.slider(key="campaign.patch_size").set_value(8)
    next(b for b in at.button if b.label == "Start").click().run()
    _no_exception(at)
    entry = state.registry().latest()
    assert entry is not None and Path(entry.record_path).parent == records
    entry.runner.wait_for(lambda s: s.n_measured >= 4, 60.0)
    at.run()
    _no_exception(at)
    status = next(m.value for m in at.markdown if m.value.startswith("Status:"))
    assert "/8 measured" in status
    beta = at.number_input(key="campaign.beta")
    assert beta.label == "beta" and beta.value == 0.25
    beta.set_value(1.0).run()
    snap = entry.runner.wait_for(lambda s: s.policy.get("beta") == 1.0 or s.status != "running", 60)
    assert snap.policy.get("beta") == 1.0
    snap = entry.runner.wait_for(lambda s: s.status in ("finished", "stopped", "error"), 90)
    assert snap.status == "finished", snap.reason
    at.run()
    assert any(e.step >= 0 and "beta" in e.text for e in snap.events)

    # A new tab (fresh session) re-attaches to the running server's campaign.
    again = _app("campaign")
    assert again.selectbox[0].label == "Watching campaign"
    assert again.selectbox[0].value == entry.record_path

    # The Review page opens the record and shows the intervention.
    review = _app("review")
    assert review.selectbox[0].label == "Record"
    assert any(h.value == "Interventions" for h in review.subheader)
    table = review.dataframe[0].value
    assert "SetPolicy" in set(table["kind"])


def test_review_page_without_records_says_where_it_looked(records: Path) -> None:
    at = _app("review")
    assert at.info and str(records) in at.info[0].value


def test_registry_stops_runners_and_keeps_the_newest_first() -> None:
    class FakeRunner:
        def __init__(self) -> None:
            self.stopped_with: float | None = None

        def stop(self, timeout: float) -> bool:
            self.stopped_with = timeout
            return True

    registry = state.CampaignRegistry()
    first, second, replacement = FakeRunner(), FakeRunner(), FakeRunner()
    registry.register("a.sqlite", first)
    time.sleep(0.01)
    registry.register("b.sqlite", second)
    latest = registry.latest()
    assert latest is not None and latest.runner is second
    registry.register("a.sqlite", replacement)
    assert first.stopped_with == 5.0  # an older runner for the same record is stopped
    registry.stop_all(2.0)
    assert second.stopped_with == 2.0 and replacement.stopped_with == 2.0
    assert registry.entries() == []


def test_steer_panel_offers_the_numbers_the_acquisition_declares(records: Path) -> None:
    """EI declares xi: the steer panel draws an xi input from PolicyConfig, which posts it."""
    at = _app("campaign")
    at.selectbox(key="campaign.start_acquisition").set_value("ei")
    at.number_input(key="campaign.delay").set_value(0.2)
    entry = _start(at, budget=40)
    entry.runner.wait_for(lambda s: s.n_measured >= 1, 60.0)
    at.run()
    _no_exception(at)
    assert "xi" in [n.label for n in at.number_input]
    xi = at.number_input(key="campaign.policy.xi")
    assert xi.value == pytest.approx(0.01) and xi.min == 0.0
    xi.set_value(0.5).run()
    _no_exception(at)
    snap = entry.runner.wait_for(lambda s: s.policy.get("xi") == 0.5 or s.status != "running", 60)
    assert snap.policy.get("xi") == 0.5
    assert any(e.kind == "intervention" and "xi" in e.text for e in snap.events)


def test_steer_inputs_show_what_is_in_force_not_a_previous_value(records: Path) -> None:
    from steerscope.campaign import SetPolicy

    at = _app("campaign")
    at.slider(key="campaign.patch_size").set_value(8)
    entry = _start(at, budget=40)
    entry.runner.wait_for(lambda s: s.n_measured >= 3, 60.0)
    at.run()
    assert at.number_input(key="campaign.new_budget").value == 40
    # a change made elsewhere (another tab, a notebook) shows up in this tab's inputs
    entry.runner.post(SetPolicy(beta=3.0))
    entry.runner.wait_for(lambda s: s.policy.get("beta") == 3.0, 60.0)
    at.run()
    assert at.number_input(key="campaign.beta").value == 3.0
    entry.runner.stop()
    at.run()

    # a second campaign with another budget: the Steer budget is that one, not 40
    at.number_input(key="campaign.budget").set_value(12)
    next(b for b in at.button if b.label == "Start").click().run()
    _no_exception(at)
    second = state.registry().latest()
    assert second is not None and second.record_path != entry.record_path
    second.runner.wait_for(lambda s: s.n_measured >= 1, 60.0)
    at.run()
    assert at.number_input(key="campaign.new_budget").value == 12
    second.runner.stop()


def _top_level_index(at: AppTest, key: str) -> int:
    """Index, among the page's top-level elements, of the one holding the widget ``key``."""
    for index, child in at.main.children.items():
        inside = child.number_input if isinstance(child, Block) else [child]
        if any(getattr(w, "key", None) == key for w in inside):
            return int(index)
    raise AssertionError(f"no widget {key!r} on the page")


def test_learning_mode_does_not_move_the_steer_inputs(records: Path) -> None:
    """Learning mode on or off, the Steer inputs keep their place on the page.

    A widget that moves is drawn anew while its old copy lingers until the rerun ends: the
    page showed two "beta" inputs, and a value typed into the old one went nowhere.
    """
    at = _app("campaign")
    entry = _start(at, budget=6)
    entry.runner.wait_for(lambda s: s.n_measured >= 1, 60.0)
    at.run()
    before = _top_level_index(at, "campaign.beta")
    at.session_state[state.LEARNING_KEY] = True  # the sidebar toggle (AppTest runs the page alone)
    at.run()
    _no_exception(at)
    assert any("school" in e.label for e in at.expander)  # the lessons are shown
    assert _top_level_index(at, "campaign.beta") == before
    entry.runner.stop()


def test_the_new_campaign_form_remembers_the_last_campaign(records: Path) -> None:
    """The form is hidden while a campaign runs; it comes back with the values used (B6)."""
    at = _app("campaign")
    caption = next(c.value for c in at.caption if c.value.startswith("Target:"))
    assert "{" not in caption and "Σ" in caption, caption  # words, not a raw dict (B12)
    at.number_input(key="campaign.start_beta").set_value(0.5)
    at.slider(key="campaign.patch_size").set_value(8)
    entry = _start(at, budget=6)
    at.run()  # the form is hidden while the campaign runs
    assert not [n for n in at.number_input if n.key == "campaign.budget"]
    snap = entry.runner.wait_for(lambda s: s.status in ("finished", "stopped", "error"), 90)
    assert snap.status == "finished", snap.reason
    at.run()
    _no_exception(at)
    assert at.number_input(key="campaign.budget").value == 6
    assert at.number_input(key="campaign.n_seeds").value == 3
    assert at.number_input(key="campaign.start_beta").value == 0.5
    assert at.slider(key="campaign.patch_size").value == 8
    assert at.selectbox(key="campaign.model").value == "exact_gp"


def test_a_target_saved_for_one_source_is_not_kept_for_another(records: Path) -> None:
    """Switching from EELS to an EDX dataset forgets the eV window saved for EELS (B7)."""
    at = _app("target")
    at.number_input(key="target.low").set_value(1.0)
    at.number_input(key="target.high").set_value(1.8).run()
    next(b for b in at.button if b.label == "Save target").click().run()
    assert at.success and "Σ 1.00–1.80" in at.success[0].value
    at.switch_page(str(PAGES / "source.py")).run()
    at.selectbox[0].set_value("velox_aupdcu")
    next(b for b in at.button if b.label == "Open dataset").click().run()
    _no_exception(at)
    assert any("was cleared" in i.value and "Σ 1.00–1.80" in i.value for i in at.info)
    at.switch_page(str(PAGES / "target.py")).run()
    _no_exception(at)
    assert not at.success  # nothing is marked "Saved"
    assert at.selectbox(key="target.kind").value == "edx_line"  # the dataset's own default


def test_the_app_has_no_folder_streamlit_would_list_as_raw_pages() -> None:
    """A ``pages/`` folder beside app.py is Streamlit's old multipage convention: the
    sidebar then showed "app, campaign, …" by file name during live refreshes (B14)."""
    assert not (APP_PATH.parent / "pages").exists()
    assert (PAGES / "campaign.py").exists()


def test_pause_after_the_seed_points_holds_the_run_for_a_look(records: Path) -> None:
    at = _app("campaign")
    at.checkbox(key="campaign.pause_after_seeds").check()
    entry = _start(at, budget=8)
    snap = entry.runner.wait_for(lambda s: s.status == "paused" or s.n_measured > 3, 60.0)
    assert snap.status == "paused" and snap.n_measured == 3
    assert "after the seed points" in snap.reason
    at.run()
    status = next(m.value for m in at.markdown if m.value.startswith("Status:"))
    assert "paused" in status and "after the seed points" in status

    # learning mode: the beta lesson says when the user did what it asks
    at.session_state[state.LEARNING_KEY] = True
    at.number_input(key="campaign.beta").set_value(2.0).run()
    entry.runner.wait_for(lambda s: s.policy.get("beta") == 2.0, 60.0)
    at.run()
    done = [s.value for s in at.success if "Beta" in s.value]
    assert done and "Done: SetPolicy: beta 1 → 2, recorded at step" in done[0]
    entry.runner.stop()


def test_no_page_holds_a_bare_string_streamlit_would_draw() -> None:
    """Streamlit's magic draws a page's bare strings: a "docstring" under a constant showed
    "Widget keys of the New-campaign form…" on the Campaign page."""
    import ast

    for path in sorted(PAGES.glob("*.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node in body[1:]:  # the first is the module docstring, which Streamlit skips
            is_text = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            assert not (is_text and isinstance(node.value.value, str)), (path.name, node.lineno)


def test_a_low_loss_spectrum_starts_on_log_counts_and_edx_does_not(records: Path) -> None:
    """The zero-loss peak flattens a low-loss spectrum on a linear axis."""
    at = _app("target")
    assert at.checkbox(key="target.log_y").value is True  # plasmonic: EELS from 0 eV
    at.switch_page(str(PAGES / "source.py")).run()
    at.selectbox[0].set_value("velox_aupdcu")
    next(b for b in at.button if b.label == "Open dataset").click().run()
    at.switch_page(str(PAGES / "target.py")).run()
    _no_exception(at)
    assert at.checkbox(key="target.log_y").value is False  # EDX in keV


def test_the_new_campaign_form_offers_only_what_the_config_accepts(records: Path) -> None:
    """The patch-size slider started at 2, which the descriptor refuses (3..64)."""
    from steerscope.descriptors.spec import MAX_PATCH_SIZE, MIN_PATCH_SIZE

    at = _app("campaign")
    patch = at.slider(key="campaign.patch_size")
    assert (patch.min, patch.max) == (MIN_PATCH_SIZE, MAX_PATCH_SIZE)
    assert at.number_input(key="campaign.n_seeds").min == 1
    assert at.number_input(key="campaign.start_beta").min == 0.0
