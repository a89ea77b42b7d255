"""Which is more interesting? The operator's judgement of two measured spectra.

Under a preference target the campaign asks about one pair at a time
(:attr:`~steerscope.campaign.CampaignSnapshot.comparison`); the panel overlays the two
spectra, says where each was measured, and posts the answer as a
:class:`~steerscope.campaign.Compare` from a button or its key (1, 2, 0). Under a
formula target it offers the switch to the operator's judgement instead (mixed mode).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from steerscope.campaign import Compare, SetScalarizer
from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, figures, state
from steerscope.ui.panels.posting import post

__all__ = ["ANSWER_KEYS", "comparison_panel", "measured_point"]

ANSWER_KEYS = {"first": "1", "second": "2", "none": "0"}
"""The keyboard shortcut of each answer."""


def measured_point(snap: Any, index: int) -> campaign_tools.MeasuredPoint:
    """Measured spectrum ``index`` of the watched campaign, read once per snapshot.

    Kept in the page's figure cache, so a live refresh does not read the record again.
    """
    return state.figure_cache().get(
        snap, ("measured", index), lambda: campaign_tools.measured_point(snap.record_path, index)
    )


def _answer(pair: tuple[int, int], answer: str) -> None:
    """Post the answer (a widget callback) and remember the pair as answered."""
    state.set_value("answered_pair", pair)
    state.set_value("shown_pair", None)
    post(lambda: Compare(pair[0], pair[1], answer, by="web UI"))


def _question(snap: Any) -> tuple[int, int] | None:
    """The pair to show: the one on screen until it is answered, else the campaign's next.

    The campaign's next question moves on as spectra arrive (it asks about the newest);
    a pair the operator is looking at must not change under their eyes, or a key
    pressed for it would answer another.
    """
    answered = state.get_value("answered_pair")
    shown = state.get_value("shown_pair")  # (record, (first, second))
    if shown is not None and shown[0] == snap.record_path and tuple(shown[1]) != answered:
        return (int(shown[1][0]), int(shown[1][1]))
    pair = snap.comparison
    if pair is None or tuple(pair) == answered:
        return None
    question = (int(pair[0]), int(pair[1]))
    state.set_value("shown_pair", (snap.record_path, question))
    return question


def comparison_panel(snap: Any) -> None:
    """Draw the question of the watched campaign, or the switch to a preference target.

    Parameters
    ----------
    snap : CampaignSnapshot
        The campaign's latest snapshot.
    """
    if snap.scalarizer.get("spec", {}).get("kind") != "preference":
        if not snap.is_multi_objective and snap.n_measured >= 2:
            st.button(
                "Judge spectra myself: compare pairs as the target",
                key="campaign.to_preference",
                help="Post SetScalarizer {kind: preference}: the target becomes the utility "
                "your answers to 'which of two spectra is more interesting?' give each "
                "spectrum; every measured spectrum is relabelled at each answer. Switch back "
                "by choosing a formula target again.",
                on_click=post,
                args=(lambda: SetScalarizer(spec={"kind": "preference"}),),
            )
        return
    pair = _question(snap)
    judged = f"{snap.n_comparisons} judgement" + ("s" if snap.n_comparisons != 1 else "")
    if pair is None:
        st.caption(
            f"Which is more interesting? No question now ({judged} so far): at most one per "
            "spectrum measured, the next comes with the next spectrum."
        )
        return
    first, second = pair
    try:
        a, b = measured_point(snap, first), measured_point(snap, second)
    except SteerscopeError as exc:
        st.caption(str(exc))
        return
    units = snap.pixel_units

    def where(point: Any) -> str:
        r, c = point.point
        return (
            f"#{point.index + 1} at ({c * snap.pixel_size:.3g}, {r * snap.pixel_size:.3g}) {units}"
        )

    st.markdown(f"**Which spectrum is more interesting?** ({judged} so far)")
    st.plotly_chart(
        figures.spectrum_figure(
            a.energy,
            {f"1: {where(a)}": a.spectrum, f"2: {where(b)}": b.spectrum},
            units=a.units,
            title="Compare",
            height=260,
        ),
        key="campaign.comparison_spectra",
    )
    labels = {
        "first": f"1 is (#{first + 1})",
        "second": f"2 is (#{second + 1})",
        "none": "No preference",
    }
    for column, answer in zip(st.columns(3), ("first", "second", "none"), strict=True):
        column.button(
            labels[answer],
            key=f"campaign.compare_{answer}",
            shortcut=ANSWER_KEYS[answer],
            help="Recorded as a Compare; the target of every measured spectrum is relearnt.",
            on_click=_answer,
            args=((first, second), answer),
        )
