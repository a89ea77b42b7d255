"""Reach a running campaign from other processes.

- :mod:`~steerscope.service.steering`: the Pyro5 steering channel
  (:class:`SteeringServer` in the process that runs the campaign,
  :class:`SteeringClient` anywhere else on the machine or, with a token, the network).
- :mod:`~steerscope.service.process`: :class:`CampaignProcess`, a campaign run in a
  child process and watched through that channel; the web UI runs its campaigns so,
  and the Streamlit server never computes a proposal.
- A tuning campaign is served the same way (:class:`TuningSteeringServer`,
  :class:`TuningClient`, :class:`TuningProcess`).
"""

from steerscope.service.process import CampaignProcess
from steerscope.service.steering import (
    STEERING_OBJECT_ID,
    SteeringClient,
    SteeringServer,
    TuningClient,
    TuningSteeringServer,
)
from steerscope.service.tuning_process import TuningProcess

__all__ = [
    "STEERING_OBJECT_ID",
    "CampaignProcess",
    "SteeringClient",
    "SteeringServer",
    "TuningClient",
    "TuningProcess",
    "TuningSteeringServer",
]
