"""The steerscope web UI (Streamlit).

Run it with ``steerscope ui`` (or ``steerscope demo`` on the built-in dataset),
which calls ``python -m streamlit run src/steerscope/ui/app.py``. The UI holds
no experiment logic: it opens sources, draws figures from campaign-runner
snapshots and posts interventions. Importing this package does not start
Streamlit; :data:`APP_PATH` is the script to run.
"""

from pathlib import Path

__all__ = ["APP_PATH"]

APP_PATH = Path(__file__).with_name("app.py")
"""Path of the Streamlit entry script."""
