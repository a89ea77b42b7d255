"""The durable campaign record: one SQLite file per campaign, with HDF5/HyperSpy exports."""

from steerscope.records.campaign_record import (
    CampaignRecord,
    Decision,
    EventRecord,
    InterventionRecord,
    MeasuredSpectra,
    RecordStatus,
)
from steerscope.records.schema import APPLICATION_ID, SCHEMA_VERSION

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "CampaignRecord",
    "Decision",
    "EventRecord",
    "InterventionRecord",
    "MeasuredSpectra",
    "RecordStatus",
]
