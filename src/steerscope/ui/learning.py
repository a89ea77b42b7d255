"""Learning mode: a guided walkthrough of an automated experiment on the built-in datasets.

Each step explains one idea (descriptor patch, scalarizer, surrogate mean and
uncertainty, beta: exploration vs exploitation), names the page and control
where it lives, and invites the user to try the intervention and say what to
watch for. Plain data, so pages render it and tests check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PAGES",
    "WALKTHROUGH",
    "LessonStep",
    "lesson_progress",
    "steps_for_page",
    "widgets_to_highlight",
]

PAGES = ("source", "target", "campaign", "review")
"""Page ids a lesson step can point at."""


@dataclass(frozen=True)
class LessonStep:
    """One step of the walkthrough.

    Parameters
    ----------
    title : str
        Short heading.
    page : str
        One of :data:`PAGES`: where the step is shown.
    explain : str
        The idea, in two or three sentences a microscopist new to BO can follow.
    try_this : str
        The action to take (which control, which value).
    watch : str
        What changes on screen when they do, and why.
    recorded : str
        How the campaign's event log starts the line that shows the user did it (e.g.
        ``"SetPolicy: beta"``); empty when the step has no such action. The live view
        then says when it happened (:func:`lesson_progress`).
    widget : str
        Key of the control the step asks the user to use (``"campaign.beta"``); it is
        highlighted on the page until they have used it (:func:`widgets_to_highlight`).
    """

    title: str
    page: str
    explain: str
    try_this: str
    watch: str
    recorded: str = ""
    widget: str = ""


WALKTHROUGH: tuple[LessonStep, ...] = (
    LessonStep(
        title="1. The overview is all the agent sees before measuring",
        page="source",
        explain=(
            "The HAADF overview is fast and cheap; spectra are slow and dose the sample. "
            "The agent learns to predict a spectral property from what the overview looks "
            "like around each pixel, so it can guess where to measure next."
        ),
        try_this=(
            "Open the built-in dataset 'plasmonic_nanoparticles' and click a few pixels: on "
            "a rod tip, in the middle of a rod, on the carbon film."
        ),
        watch=(
            "The spectra differ: rod tips and triangle corners carry a low-energy peak "
            "(1.0–1.8 eV) that the middle of a particle and the film do not."
        ),
    ),
    LessonStep(
        title="2. The scalarizer turns a spectrum into one number to maximise",
        page="target",
        explain=(
            "Bayesian optimisation needs one target per measured pixel. A scalarizer is a "
            "declarative recipe — sum counts in an energy window, a peak position, a ratio "
            "of two windows — applied to every raw spectrum. Raw spectra are kept, so the "
            "recipe can change mid-run and the whole history is re-labelled."
        ),
        try_this=(
            "Box-select 1.0–1.8 eV on the spectrum plot (or type the window), kind "
            "'window_sum', and look at the preview map; then try 3.5–4.1 eV."
        ),
        watch=(
            "With 1.0–1.8 eV only tips and corners light up (a needle-in-a-haystack target); "
            "with the bulk plasmon window whole particles light up (an easy target)."
        ),
    ),
    LessonStep(
        title="3. The descriptor: how much of the overview the model looks at",
        page="campaign",
        explain=(
            "Each candidate pixel is described by the overview patch around it. A patch "
            "smaller than the features cannot tell a tip from an edge; a patch much larger "
            "blurs neighbours together and needs more measurements to learn."
        ),
        try_this=(
            "Set the descriptor patch size to 4, then 16, then 32, and look at the blue "
            "square drawn on the overview."
        ),
        watch=(
            "A 16-pixel patch covers a rod tip and its surroundings; that is the scale the "
            "model can tell apart."
        ),
        recorded="SetDescriptor",
    ),
    LessonStep(
        title="4. Seed points: what the model learns from before it decides",
        page="campaign",
        explain=(
            "The model cannot choose well from nothing, so the campaign first measures a few "
            "seed points. Random seeds sample the sample without bias; a grid covers it "
            "evenly (good when features are spread out); clicked seeds put your knowledge in "
            "(a particle you know matters). Five to ten seeds are usually enough: each seed "
            "is a spectrum the model did not choose, so many seeds spend the budget blindly."
        ),
        try_this=(
            "Tick 'Pause after the seed points', start with 5 random seeds, and look at the "
            "mean and uncertainty maps when the run holds; then try 'clicked' and click a "
            "rod tip, a triangle and the film."
        ),
        watch=(
            "With seeds on only one kind of feature the first maps are confidently wrong "
            "elsewhere (low uncertainty where nothing was measured is the warning sign); "
            "varied seeds give a model that knows what it does not know."
        ),
        recorded="",
    ),
    LessonStep(
        title="5. Mean and uncertainty: what the model believes and how sure it is",
        page="campaign",
        explain=(
            "After each measurement a Gaussian process (on learned patch features) predicts "
            "the target everywhere (the mean map) and how unsure it is (the uncertainty map). "
            "Uncertainty is low near measured pixels and in regions that look like them."
        ),
        try_this=(
            "Start a campaign with a small budget (30 measurements) and Step 5 at a time; "
            "compare the mean and uncertainty maps after each step."
        ),
        watch=(
            "The mean map starts flat and sharpens around the bright spots found; the "
            "uncertainty map darkens where the agent has been."
        ),
    ),
    LessonStep(
        title="6. Beta: exploration versus exploitation",
        page="campaign",
        explain=(
            "The acquisition function UCB scores a pixel by mean + sqrt(beta) × uncertainty. "
            "A small beta exploits (measure where the target is predicted high); a large beta "
            "explores (measure where the model knows least)."
        ),
        try_this=(
            "While the campaign runs, set beta to 0.01 for a few steps, then to 10, using "
            "the intervention panel. Each change is logged with the step it took effect."
        ),
        watch=(
            "With small beta the next points cluster on known hot spots; with large beta they "
            "spread over unexplored particles. The discovery curve shows which pays off here."
        ),
        recorded="SetPolicy: beta",
        widget="campaign.beta",
    ),
    LessonStep(
        title="7. Votes: a target you know when you see it",
        page="campaign",
        explain=(
            "Sometimes no energy window says what you are after, but you know an "
            "interesting spectrum when you see one. Mark measured spectra good or bad; the "
            "votes become a target of their own: how much each spectrum looks like the good "
            "ones (and unlike the bad), whatever its intensity."
        ),
        try_this=(
            "Click a measured point on the live overview, look at its spectrum below, and "
            "press Good spectrum or Bad spectrum; do it for a few points, then Make the votes "
            "the target."
        ),
        watch=(
            "Every spectrum is relabelled with its likeness to your good ones; the target "
            "plot and the maps follow, and the agent now looks for more of what you liked."
        ),
        recorded="Vote: spectrum",
        widget="campaign.vote_good",
    ),
    LessonStep(
        title="8. Compare pairs: your judgement as the target",
        page="campaign",
        explain=(
            "Votes need you to find the spectra; comparisons let the agent ask. Switch the "
            "target to your judgement and the agent shows you two measured spectra at a "
            "time: which is more interesting? A preference model turns your answers into a "
            "utility for every spectrum, so one answer teaches it about all spectra alike."
        ),
        try_this=(
            "Press 'Judge spectra myself', then answer each pair with 1, 2 or 0 (no "
            "preference) on the keyboard. It asks at most once per spectrum measured."
        ),
        watch=(
            "The predicted-utility map and the target plot change with each answer; the "
            "agent goes looking for more of what you preferred. A wrong answer now and then "
            "does little: the utility weighs all of them."
        ),
        recorded="Compare:",
        widget="campaign.to_preference",
    ),
    LessonStep(
        title="9. Steer, then review what happened",
        page="review",
        explain=(
            "Every decision, measurement and intervention is in the campaign record. The "
            "Review page replays the maps step by step and lists your interventions on a "
            "timeline; a what-if fork replays the same data with a different choice."
        ),
        try_this=(
            "Open the record you just made, scrub to the step where you changed beta, and "
            "fork a replay with the other beta."
        ),
        watch="Whether the other policy would have found the hot spots sooner.",
    ),
)
"""The walkthrough, in order."""


def steps_for_page(page: str) -> list[tuple[int, LessonStep]]:
    """The walkthrough steps shown on ``page``, with their index in :data:`WALKTHROUGH`.

    Parameters
    ----------
    page : str
        One of :data:`PAGES`.

    Raises
    ------
    ValueError
        If ``page`` is not one of :data:`PAGES` (a programming error, not a user one).
    """
    if page not in PAGES:
        raise ValueError(f"page must be one of {PAGES}; got {page!r}")
    return [(i, step) for i, step in enumerate(WALKTHROUGH) if step.page == page]


def lesson_progress(step: LessonStep, events: Sequence[Any]) -> str | None:
    """What the user did for ``step``, from the campaign's event log, or ``None`` yet.

    Parameters
    ----------
    step : LessonStep
    events : sequence of EventView
        The campaign snapshot's events (``kind``, ``text``, ``step``), oldest first.

    Returns
    -------
    str or None
        E.g. ``"Done: SetPolicy: beta 0.25 → 1, recorded at step 10."`` for the latest
        matching intervention; ``None`` if the step has no action or it was not taken.
    """
    if not step.recorded:
        return None
    for event in reversed(events):
        if event.kind == "intervention" and str(event.text).startswith(step.recorded):
            return f"Done: {event.text}, recorded at step {event.step}."
    return None


def widgets_to_highlight(page: str, events: Sequence[Any]) -> list[str]:
    """Keys of the controls ``page``'s lessons ask for and the user has not used yet.

    Parameters
    ----------
    page : str
        One of :data:`PAGES`.
    events : sequence of EventView
        The campaign snapshot's events, oldest first (:func:`lesson_progress` reads them).

    Returns
    -------
    list of str
        Widget keys, e.g. ``["campaign.beta"]`` until a beta change is recorded.
    """
    return [
        step.widget
        for _, step in steps_for_page(page)
        if step.widget and lesson_progress(step, events) is None
    ]
