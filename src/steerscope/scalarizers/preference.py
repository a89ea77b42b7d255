"""The operator's judgement as the target: a utility learned from pairwise comparisons.

Often a microscopist cannot write the target as a formula but can say which of two
spectra is more interesting (DKPL, Bulanadi et al. 2026). A ``preference`` spec has no
formula: a campaign learns a latent utility of the spectra from the operator's
comparisons (:class:`~steerscope.campaign.interventions.Compare`) and each measured
spectrum's target is its utility, relabelled at every judgement. What the spec holds is
how spectra are described to the utility model: the shape of their log counts in an
optional window, reduced to a few principal components (:meth:`PreferenceSpec.features`),
so that a judgement on two spectra says something about all those that look alike.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field

from steerscope.errors import ScalarizerError
from steerscope.scalarizers.base import Window, WindowScalarizerBase, check_spectra
from steerscope.types import EnergyAxis

__all__ = ["PreferenceSpec"]


class PreferenceSpec(WindowScalarizerBase):
    """A target learned from the operator's "which of these two is more interesting?".

    Example: ``{"kind": "preference"}`` or ``{"kind": "preference", "window": [1.0, 3.0],
    "components": 4}``. It cannot be applied to spectra alone (:meth:`apply` says so):
    the campaign computes the utility from the comparisons in its record.
    """

    kind: Literal["preference"] = "preference"
    window: Window | None = Field(
        default=None, description="Describe the spectra by the channels in this window only."
    )
    components: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Principal components of the spectra's log counts the utility is a "
        "function of (fewer: smoother, learns from fewer judgements).",
    )
    lapse: float = Field(
        default=0.0,
        ge=0.0,
        lt=0.5,
        description="How often the operator is taken to answer at random: a wrong answer "
        "about two very different spectra then pulls the utility less (0: probit only).",
    )

    def apply(self, spectra: ArrayLike, energy: EnergyAxis) -> NDArray[np.float64]:
        """Refused: a preference target is learned from comparisons, not computed.

        Raises
        ------
        ScalarizerError
            Always, saying where the target comes from instead.
        """
        raise ScalarizerError(
            f"{self.label}: a preference target is learned from the operator's comparisons "
            "of measured spectra and has no formula to apply to spectra alone. Use it as a "
            "campaign's target (each Compare relabels the measured spectra), or choose a "
            "formula kind such as window_sum to preview a map."
        )

    def check_fits(self, spectra: ArrayLike, energy: EnergyAxis) -> None:
        """Raise :class:`ScalarizerError` if the spectra cannot be described (the window)."""
        self.features(spectra, energy, basis_rows=1)

    def features(
        self, spectra: ArrayLike, energy: EnergyAxis, basis_rows: int
    ) -> NDArray[np.float64]:
        """Descriptors of the spectra for the utility model.

        Parameters
        ----------
        spectra : array_like of shape (n, C)
            Measured spectra, raw counts, in measurement order.
        energy : EnergyAxis
            Their energy axis.
        basis_rows : int
            The first ``basis_rows`` spectra fix the description (their principal
            components, centre and scale), so that spectra measured later do not move
            it: the same comparisons always give the same utility.

        Returns
        -------
        ndarray of shape (n, k), float64
            Scores on the first ``k <= components`` principal components of
            ``log(1 + counts)`` in the window, each standardised over the basis rows.
        """
        values = check_spectra(spectra, energy, self.label)
        if not 1 <= basis_rows <= values.shape[0]:
            raise ScalarizerError(
                f"{self.label}: basis_rows must lie in [1, {values.shape[0]}]; got {basis_rows}"
            )
        channels = self._channels(self.window, energy, "window") if self.window else slice(None)
        logs = np.log1p(np.clip(values[:, channels], 0.0, None))
        basis = logs[:basis_rows]
        centre = basis.mean(axis=0)
        _, singular, vt = np.linalg.svd(basis - centre, full_matrices=False)
        keep = singular > singular[0] * 1e-9 if singular.size and singular[0] > 0 else []
        k = min(self.components, int(np.count_nonzero(keep)))
        if k == 0:
            return np.zeros((values.shape[0], 1))
        scores = (logs - centre) @ vt[:k].T
        scale = scores[:basis_rows].std(axis=0)
        return np.asarray(scores / np.where(scale > 0, scale, 1.0), dtype=np.float64)

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[Any]:
        return self.apply(spectra, energy)  # refused; apply is overridden

    def _auto_label(self) -> str:
        where = f" in {self._window_text(self.window)}" if self.window else ""
        return f"utility from the operator's comparisons{where}"
