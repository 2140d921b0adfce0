"""Property-based checks of the live API against its own OpenAPI document (schemathesis):
no 5xx, documented status codes and content types, responses matching their schemas."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import require, training_threads

schemathesis = require("schemathesis")
from schemathesis import GenerationMode, checks  # noqa: E402

# start is left out: every accepted body would launch a training run
FUZZED = [
    ("POST", "/training/config/validate"),
    ("GET", "/training/status"),
    ("GET", "/training/history"),
    ("GET", "/training/runs"),
    ("GET", "/training/config"),
    ("POST", "/training/stop"),
    ("GET", "/training/compare"),
    ("GET", "/training/search"),
    ("GET", "/training/benchmark"),
]


def fuzz(doc: dict, base: str, token: str, max_examples: int) -> dict[str, int]:
    """Run schemathesis on each FUZZED operation (blocking; call it from a worker thread).

    Request bodies come from both modes: schema-valid (positive) and schema-violating
    (negative). ``config/validate`` answers a wrong-typed object with 200 ``valid: false``
    by contract, so the check that expects 4xx for negative data is left out.
    """
    schema = schemathesis.openapi.from_dict(doc)
    seen: dict[str, int] = {}
    for method, path in FUZZED:
        operation = schema[path][method]
        modes = [GenerationMode.POSITIVE]
        if "requestBody" in doc["paths"][path][method.lower()]:
            modes.append(GenerationMode.NEGATIVE)
        strategy = st.one_of(*(operation.as_strategy(generation_mode=m) for m in modes))
        n = max_examples if len(modes) > 1 else max(3, max_examples // 10)

        @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def check(case):
            response = case.call(base_url=base, headers={"Authorization": f"token {token}"}, timeout=60)
            assert response.status_code < 500, response.text
            case.validate_response(response, excluded_checks=[checks.negative_data_rejection])
            key = f"{method} {path} {response.status_code}"
            seen[key] = seen.get(key, 0) + 1

        check()
    return seen


async def test_openapi_document_is_valid_openapi(api):
    code, doc = await api("GET", "openapi.json")
    assert code == 200
    schemathesis.openapi.from_dict(doc).validate()  # against the OpenAPI 3.1 meta-schema


async def test_api_conforms_to_its_openapi_document(api, manager, jp_base_url, jp_root_dir):
    code, doc = await api("GET", "openapi.json")
    assert code == 200
    base = api.root.rstrip("/")
    seen = await asyncio.to_thread(fuzz, doc, base, api.token, 60)
    print(seen)
    assert seen.get("POST /training/config/validate 200", 0) > 10, seen
    assert not manager.is_active() and not training_threads()
    assert not (Path(jp_root_dir) / "trained_models").exists()
