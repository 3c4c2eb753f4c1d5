"""The gateway's OpenAPI document, fuzzed with schemathesis (bounded), with response-schema checks.

Requests are generated from the document itself for the OpenAI and tokenizer routes; every response
must be a documented status with a body matching its documented schema, and never a 5xx. The default
model is a fast fake backend (no weights), so the run stays short; the local model's own behaviour is
covered by test_openai_surface.py.
"""

from __future__ import annotations

import json
import re

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from skyplex import Kernel, Settings, make_plugin_manager  # noqa: E402
from skyplex.gateway import create_app  # noqa: E402
from skyplex.hookspecs import hookimpl  # noqa: E402
from skyplex.testing.fakes import FakeModelBackend  # noqa: E402

KEY = "fuzz-key"
ROUTES = r"^/(v1/models|v1/completions|v1/chat/completions|tokenize|detokenize|tokenizer_info)"


class _FakeModels:
    @hookimpl
    def skyplex_register_models(self, register):
        register("fake", FakeModelBackend)


def _app(tmp_dir):
    pm = make_plugin_manager(entrypoints=False)
    pm.register(_FakeModels(), name="fakemodels")
    kernel = Kernel(settings=Settings(data_dir=tmp_dir, default_model="fake"), pm=pm)
    return create_app(kernel, api_key=KEY)


APP = None
DATA_DIR: str | None = None  # the app is built at import (schemathesis reads its document then)


def _lazy_app(tmp_path_factory=None):
    global APP, DATA_DIR
    if APP is None:
        import tempfile

        DATA_DIR = tempfile.mkdtemp(prefix="skyplex-fuzz-")
        APP = _app(DATA_DIR)
    return APP


@pytest.fixture(scope="module", autouse=True)
def _remove_data_dir():
    yield
    if DATA_DIR is not None:
        import shutil

        shutil.rmtree(DATA_DIR, ignore_errors=True)


schema = schemathesis.openapi.from_asgi("/openapi.json", _lazy_app()).include(path_regex=ROUTES)


def test_document_has_no_dangling_references_and_streams_are_declared():
    from fastapi.testclient import TestClient

    doc = TestClient(_lazy_app()).get("/openapi.json").json()
    text = json.dumps(doc)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert refs <= set(doc["components"]["schemas"]), refs - set(doc["components"]["schemas"])
    for path, chunk in (("/v1/chat/completions", "chat.completion.chunk"), ("/v1/completions", "text_completion")):
        event = doc["paths"][path]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
        done, payload = event["properties"]["data"]["anyOf"]
        assert done == {"const": "[DONE]"} and payload["contentSchema"]["properties"]["object"]["const"] == chunk
    events = doc["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert events["schema"]["properties"]["data"]["contentSchema"]["anyOf"][0] == {"$ref": "#/components/schemas/Job"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_openai_routes_answer_as_documented(case):
    from schemathesis.checks import positive_data_acceptance

    # any schema-valid request may still be refused for its values (an unknown model, a token id the
    # fake backend cannot take), so acceptance of all valid data is not a property of this API
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, excluded_checks=[positive_data_acceptance])
