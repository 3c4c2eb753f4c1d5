"""Fixtures over the committed slice of MuxServe's data (tests read nothing outside the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


class MuxData:
    """Paths into the committed slice, by load (the trace's condense factor) and placement kind."""

    root = DATA

    @staticmethod
    def workload(condense: int) -> Path:
        return next((DATA / "workloads").glob(f"*condense{condense}_*.yaml"))

    @staticmethod
    def placements(kind: str, condense: int) -> list[Path]:
        return sorted((DATA / "placements" / kind).glob(f"*condense{condense}_*.yaml"))

    @staticmethod
    def measured(kind: str, condense: int) -> Path:
        return next((DATA / "merged_results").glob(f"*condense{condense}_*_{kind}.json"))


@pytest.fixture(scope="session")
def mux_data() -> type[MuxData]:
    return MuxData


@pytest.fixture(scope="session")
def profile_path() -> Path:
    return DATA / "llama_a100_profile.json.gz"


@pytest.fixture(scope="session")
def profile(profile_path):
    from skyplex_muxserve.profiles import LatencyProfile

    return LatencyProfile.load(profile_path)
