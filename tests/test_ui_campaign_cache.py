"""Campaign page rerun costs: figures cached per snapshot, records read only on change."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from steerscope.campaign import Campaign
from steerscope.records import CampaignRecord
from steerscope.ui import campaign_tools
from steerscope.ui.campaign_tools import SnapshotCache


class _Snap:
    """Stands in for a CampaignSnapshot: hashed by identity, weak-referenceable."""


def test_snapshot_cache_builds_once_per_snapshot_and_key() -> None:
    cache = SnapshotCache()
    built: list[str] = []

    def build(name: str) -> str:
        built.append(name)
        return f"figure {name}"

    first, second = _Snap(), _Snap()
    assert cache.get(first, "map", lambda: build("a")) == "figure a"
    assert cache.get(first, "map", lambda: build("b")) == "figure a"  # same snapshot: cached
    assert cache.get(first, "targets", lambda: build("c")) == "figure c"
    assert cache.get(second, "map", lambda: build("d")) == "figure d"  # new snapshot: rebuilt
    assert built == ["a", "c", "d"] and (cache.hits, cache.misses) == (1, 3)
    del first
    gc.collect()
    assert len(cache) == 1  # entries go with their snapshot


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    config = {
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 4},
    }
    with Campaign.create(config, tmp_path / "a.sqlite") as campaign:
        campaign.run(n_steps=1)
    return tmp_path


def test_resumable_records_reads_records_only_when_the_folder_changed(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Path] = []
    real_open = CampaignRecord.open

    def counting_open(path: Path, *args: object, **kwargs: object) -> CampaignRecord:
        opened.append(Path(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    assert campaign_tools.resumable_records(folder, set()) == [(folder / "a.sqlite", "paused")]
    monkeypatch.setattr(CampaignRecord, "open", counting_open)
    assert campaign_tools.resumable_records(folder, set()) == [(folder / "a.sqlite", "paused")]
    assert opened == []  # nothing changed: no SQLite read
    with real_open(folder / "a.sqlite") as record:
        record.set_status("finished", "done elsewhere")
    assert campaign_tools.resumable_records(folder, set()) == []  # the change is seen
    assert opened == [folder / "a.sqlite"]


def test_a_record_another_process_is_writing_is_not_offered_for_resume(folder: Path) -> None:
    import subprocess
    import sys

    path = folder / "a.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from steerscope.records import CampaignRecord\n"
            f"record = CampaignRecord.open({str(path)!r})\n"
            "record.set_status('running', 'elsewhere')\n"
            "print('held', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert campaign_tools.resumable_records(folder, set()) == []
    finally:
        holder.kill()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    assert campaign_tools.resumable_records(folder, set()) == [(path, "running")]
