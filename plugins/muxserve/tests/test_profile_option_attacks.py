"""``options.profile`` of the kernel's allocator route names a profile the server offers, never a file of
the client's choosing: paths out of the allowed folders, links out, missing files and files that are no
profile are all refused with the same one-line 400, so a client learns nothing about the server's files.
Callers in the same process still read any path through ``MuxServeAllocator(profile=...)``."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.interfaces import AllocationProblem
from skyplex_muxserve.allocator import MuxServeAllocator
from skyplex_muxserve.profile_access import DATA_DIR_PROFILES, profile_from_option
from skyplex_muxserve.workload import LLM, MuxWorkload

H = {"Authorization": "Bearer k"}


def _workload():
    return MuxWorkload([LLM("a", "llama-7b", 3.0), LLM("b", "llama-13b", 1.0)], 1, 4).to_workload()


@pytest.fixture
def served(tmp_path, profile_path):
    """(client, data dir, a folder outside it) of a gateway whose data dir offers one extra profile."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    data = tmp_path / "data"
    offered = data / DATA_DIR_PROFILES
    offered.mkdir(parents=True)
    shutil.copy(profile_path, offered / "mine.json.gz")
    (offered / "notes.json").write_text('{"not": "a profile"}')
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(profile_path, outside / "real.json.gz")  # a real profile, but not one the server offers
    os.symlink(outside / "real.json.gz", offered / "link-out.json.gz")
    os.symlink("/etc/passwd", offered / "passwd.json")
    pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"muxserve"})
    kernel = Kernel(settings=Settings(data_dir=data), pm=pm, strict=True).startup()
    with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
        yield client, data, outside
    kernel.close()


def _allocate(client, profile):
    return client.post("/v1/allocators/muxserve/allocate", headers=H, json={
        "workload": _workload().model_dump(mode="json"), "options": {"confirm": 0, "profile": profile}})


def test_offered_profiles_are_named_by_file_name(served):
    client, _, _ = served
    for name in ["mine.json.gz", "llama_a100_profile.json.gz", "./mine.json.gz"]:
        res = _allocate(client, name)
        assert res.status_code == 200, (name, res.text)
        assert res.json()["gpus"] == {"A100-80GB": 4}


def test_every_way_out_gets_the_same_refusal(served):
    client, data, outside = served
    attacks = ["../../etc/passwd", "/etc/passwd", "../../../../../../etc/passwd", "link-out.json.gz", "passwd.json",
               str(outside / "real.json.gz"), str(data / DATA_DIR_PROFILES / "mine.json.gz"),
               "../profiles/mine.json.gz", "nope.json", "notes.json", ".", "", "mine.json.gz\x00", 7, ["a"]]
    shapes = set()
    for name in attacks:
        res = _allocate(client, name)
        assert res.status_code == 400, (name, res.status_code, res.text)
        message = res.json()["error"]["message"]
        assert "\n" not in message
        text = message.replace(repr(str(name)[:200]), "NAME")  # the name it was given is echoed, nothing else
        assert "Traceback" not in text and "root:" not in text and str(data) not in text
        assert "does not exist" not in text and "JSON" not in text
        shapes.add(text)
    # a missing file, a file that is no profile, and paths out of the folders read alike
    assert len(shapes) == 1, shapes


def test_in_process_callers_may_name_any_path(tmp_path, profile_path):
    anywhere = tmp_path / "elsewhere" / "p.json.gz"
    anywhere.parent.mkdir()
    shutil.copy(profile_path, anywhere)
    problem = AllocationProblem(workload=_workload(), options={"confirm": 0})
    assert MuxServeAllocator(profile=anywhere).allocate(problem).gpus == {"A100-80GB": 4}
    # the option stays restricted even then: it is what a request carries
    with pytest.raises(InvalidInputError, match="not a latency profile this server offers"):
        MuxServeAllocator(profile=anywhere).allocate(
            AllocationProblem(workload=_workload(), options={"confirm": 0, "profile": str(anywhere)}))


_PARTS = st.sampled_from(["..", ".", "etc", "passwd", "muxserve", "profiles", "mine.json.gz", "out", "", "/"])


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(_PARTS, min_size=1, max_size=6))
@example(parts=["mine.json.gz", "."])  # found by a random seed: a trailing "." is the offered file itself
def test_a_searched_path_is_offered_or_refused_alike(tmp_path_factory, profile_path, parts):
    """Any path built from these pieces either resolves inside an allowed folder or gets the one refusal."""
    data = tmp_path_factory.getbasetemp() / "searched-data"
    offered = data / DATA_DIR_PROFILES
    if not offered.exists():
        offered.mkdir(parents=True)
        shutil.copy(profile_path, offered / "mine.json.gz")
    name = "/".join(parts)
    try:
        profile_from_option(name, data)
    except InvalidInputError as err:
        assert str(err).startswith("options.profile ")
        assert "does not exist" not in str(err) and str(data) not in str(err)
    else:  # only a plain relative path to the offered file loads ("." and empty parts name no folder)
        assert not name.startswith("/") and [p for p in name.split("/") if p not in ("", ".")] == ["mine.json.gz"]
