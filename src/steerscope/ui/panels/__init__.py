"""The Campaign page's panels, one module each.

- :mod:`~steerscope.ui.panels.posting`: post a typed intervention to the watched
  campaign and acknowledge it (every panel's buttons and inputs go through it).
- :mod:`~steerscope.ui.panels.setup_form`: the New-campaign form.
- :mod:`~steerscope.ui.panels.live_view`: the live fragment (status, run
  buttons, overview with clicked points and no-go boxes, maps, history plots,
  event log).
- :mod:`~steerscope.ui.panels.pareto_view`: objective space and hypervolume of a
  multi-objective campaign.
- :mod:`~steerscope.ui.panels.steer_panel`: beta, acquisition, patch size, budget,
  target and multi-objective weights of the campaign in force.

The page (``ui/views/campaign.py``) only chooses the campaign and lays them out.
"""
