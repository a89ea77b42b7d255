"""Orchestration: the campaign config, operator interventions, the ask/tell engine, the runner.

``Campaign.create(config, record_path)`` starts a campaign (instrument,
overview, descriptors, record); ``Campaign.resume(record_path)`` rebuilds one
from its record; ``CampaignRunner(campaign).start()`` drives it on a
background thread that applies posted interventions between steps and
publishes immutable :class:`CampaignSnapshot` s. ``replay(record, from_step,
changes, out)`` forks a record at a step with changed settings and runs the fork.
"""

from steerscope.campaign.config import (
    BudgetConfig,
    CampaignConfig,
    DatasetSource,
    FileSource,
    GridSeeds,
    InstanceSource,
    InstrumentConfig,
    ListSeeds,
    PauseConfig,
    PolicyConfig,
    ProbeMotion,
    RandomSeeds,
    RemoteSource,
    load_config,
)
from steerscope.campaign.engine import (
    Campaign,
    Proposal,
    StepResult,
    build_instrument,
    default_record_path,
)
from steerscope.campaign.interventions import (
    AddNoGoRegion,
    AddPoints,
    Compare,
    Intervention,
    Pause,
    Resume,
    RunSteps,
    SetBudget,
    SetDescriptor,
    SetPolicy,
    SetScalarizer,
    Stop,
    VetoPoints,
    Vote,
    describe_intervention,
    intervention_from_dict,
)
from steerscope.campaign.pipeline import Pipeline, RunSummary, run_pipelined
from steerscope.campaign.replay import apply_config_changes, fork_record, replay
from steerscope.campaign.runner import CampaignRunner, discovery_curve
from steerscope.campaign.snapshot import CampaignSnapshot, EventView

__all__ = [
    "AddNoGoRegion",
    "AddPoints",
    "BudgetConfig",
    "Campaign",
    "CampaignConfig",
    "CampaignRunner",
    "CampaignSnapshot",
    "Compare",
    "DatasetSource",
    "EventView",
    "FileSource",
    "GridSeeds",
    "InstanceSource",
    "InstrumentConfig",
    "Intervention",
    "ListSeeds",
    "Pause",
    "PauseConfig",
    "Pipeline",
    "PolicyConfig",
    "ProbeMotion",
    "Proposal",
    "RandomSeeds",
    "RemoteSource",
    "Resume",
    "RunSteps",
    "RunSummary",
    "SetBudget",
    "SetDescriptor",
    "SetPolicy",
    "SetScalarizer",
    "StepResult",
    "Stop",
    "VetoPoints",
    "Vote",
    "apply_config_changes",
    "build_instrument",
    "default_record_path",
    "describe_intervention",
    "discovery_curve",
    "fork_record",
    "intervention_from_dict",
    "load_config",
    "replay",
    "run_pipelined",
]
