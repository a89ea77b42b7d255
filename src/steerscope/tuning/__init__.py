"""Tuning campaigns: Bayesian optimisation of instrument settings from a figure of merit."""

from steerscope.tuning.campaign import TuningCampaign
from steerscope.tuning.config import (
    FlatnessMerit,
    Setting,
    TuningConfig,
    format_settings,
    load_tuning_config,
)
from steerscope.tuning.interventions import (
    SetBeta,
    SetBounds,
    SetBudget,
    SetMerit,
    SetPaused,
    TrySettings,
    VetoSettings,
)
from steerscope.tuning.merit import ronchigram_flatness
from steerscope.tuning.runner import TuningRunner

__all__ = [
    "FlatnessMerit",
    "SetBeta",
    "SetBounds",
    "SetBudget",
    "SetMerit",
    "SetPaused",
    "Setting",
    "TrySettings",
    "TuningCampaign",
    "TuningConfig",
    "TuningRunner",
    "VetoSettings",
    "format_settings",
    "load_tuning_config",
    "ronchigram_flatness",
]
