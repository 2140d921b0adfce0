"""OpenAPI 3.1 document of the training REST API, generated from the pydantic models.

The request schema is :class:`~eegtrain_jupyter.config.training.TrainingConfig` itself (every field
has a default, so any subset is a valid body); the responses are :mod:`.schemas`' models,
the same ones the service builds. Error statuses come from :mod:`.errors`' classes.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .._version import __version__
from ..config.training import TrainingConfig
from ..errors import (
    AlreadyTrainingError,
    ConfigError,
    Conflict,
    EegtrainError,
    InsufficientStorage,
    MissingDependency,
    NotFound,
    PayloadTooLarge,
    ResourceError,
    UnsupportedMediaType,
)
from ..schemas import REQUEST_MODELS, RESPONSE_MODELS
from ..service.compare import MAX_COMPARED, RunQuery
from ..service.runs import RUN_ID

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_FORBIDDEN = "Missing or wrong token, missing XSRF token (cookie auth), or not authorized"


def _errors(*errors: type[EegtrainError]) -> dict[str, Any]:
    """Responses for 403 and each error class (its status; its docstring's first line)."""
    out = {"403": _json(_ref("ErrorBody"), _FORBIDDEN)}
    for cls in errors:
        out[str(cls.status)] = _json(_ref("ErrorBody"), (cls.__doc__ or cls.__name__).strip().splitlines()[0])
    return out


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (TrainingConfig, "validation"),
        *((m, "validation") for m in REQUEST_MODELS.values()),
        *((m, "serialization") for m in RESPONSE_MODELS.values()),
    ]
    _, defs = models_json_schema(models, ref_template=_REF)
    schemas = defs["$defs"]
    body = {
        "required": False,
        "description": "A partial TrainingConfig: omitted fields take their defaults.",
        "content": {"application/json": {"schema": _ref("TrainingConfig")}},
    }
    status_ok = _json(_ref("Status"), "Status snapshot of the current/last run")

    body_errors = (ConfigError, PayloadTooLarge, UnsupportedMediaType)

    def op(
        summary: str, ok: dict[str, Any], *errs: type[EegtrainError], request: bool = False
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **_errors(*errs)}}
        if request:
            out["requestBody"] = body
        return out

    def query_params(model: type[RunQuery]) -> list[dict[str, Any]]:
        props = model.model_json_schema()["properties"]
        out = []
        for name, prop in props.items():
            schema = next((p for p in prop.get("anyOf", []) if p.get("type") != "null"), prop)
            if "$ref" in schema:  # an enum (TrainingState)
                schema = model.model_json_schema()["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
            schema = {k: v for k, v in schema.items() if k in ("type", "enum", "minimum", "maximum")}
            out.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "schema": schema,
                    "description": prop.get("description", ""),
                }
            )
        return out

    search_body = {
        "required": True,
        "description": "The search: base config, space, trials, metric, pruner.",
        "content": {"application/json": {"schema": _ref("SearchRequest")}},
    }
    search_ok = _json(_ref("SearchStatus"), "The current/last search, its trials and the best so far")
    compare_op = op(
        "Runs side by side: aligned histories and config differences",
        _json(_ref("Comparison"), "Comparison"),
        ConfigError,
        NotFound,
    )
    ids = {"type": "string", "pattern": rf"^\s*[^,\s][^,]*(,[^,]*){{0,{MAX_COMPARED - 1}}}$"}
    compare_op["parameters"] = [
        {
            "name": "runs",
            "in": "query",
            "required": True,
            "schema": ids,
            "description": f"Comma-separated run ids (1 to {MAX_COMPARED})",
        }
    ]
    runs_op = op(
        "Recorded runs, newest first; filtered and sorted by the query",
        _json(_ref("Runs"), "Run records"),
        ConfigError,
    )
    runs_op["parameters"] = query_params(RunQuery)
    search_post = op(
        "Start a hyper-parameter search (Optuna); trials run one after another",
        search_ok,
        *body_errors,
        AlreadyTrainingError,
        MissingDependency,
    )
    search_post["requestBody"] = search_body
    benchmark_ok = _json(_ref("BenchmarkStatus"), "The current/last benchmark: its runs, scores and summary")
    benchmark_post = op(
        "Start a benchmark (models × folds × repeats, one run after another), or resume one",
        benchmark_ok,
        *body_errors,
        AlreadyTrainingError,
    )
    benchmark_post["requestBody"] = {
        "required": True,
        "description": "The benchmark: base config (with its evaluation protocol) and models; or resume.",
        "content": {"application/json": {"schema": _ref("BenchmarkRequest")}},
    }

    paths = {
        "/training/start": {
            "post": op(
                "Validate the config and start a training run in the background",
                status_ok,
                *body_errors,
                AlreadyTrainingError,
                ResourceError,
                InsufficientStorage,
                request=True,
            )
        },
        "/training/stop": {
            "post": op(
                "Ask the active run to stop, ending a search or benchmark too (a no-op when idle)", status_ok
            )
        },
        "/training/status": {"get": op("Status of the current/last run", status_ok)},
        "/training/history": {
            "get": op("Per-epoch metrics of the current/last run", _json(_ref("History"), "Metrics"))
        },
        "/training/runs": {"get": runs_op},
        "/training/compare": {"get": compare_op},
        "/training/search": {"get": op("The current/last search", search_ok), "post": search_post},
        "/training/benchmark": {
            "get": op("The current/last benchmark", benchmark_ok),
            "post": benchmark_post,
        },
        **_run_paths(op, body_errors),
        "/training/config": {
            "get": op("The default configuration", _json(_ref("TrainingConfig"), "Defaults"))
        },
        "/training/config/schema": {
            "get": op(
                "JSON Schema of the configuration, with presets",
                _json({"type": "object"}, "JSON Schema with a `presets` object"),
            )
        },
        "/training/config/validate": {
            "post": op(
                "Validate a partial configuration without starting (200 even when invalid)",
                _json(_ref("ValidationBody"), "Validation result"),
                *body_errors,
                request=True,
            )
        },
        "/training/openapi.json": {
            "get": op("This document", _json({"type": "object"}, "OpenAPI 3.1 document"))
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "eegtrain-jupyter training API",
            "version": __version__,
            "description": "Train a two-class LaBraM EEG classifier from a Jupyter server. "
            "Send the server token as `Authorization: token <token>`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "jupyterToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`token <token>`; find the token with `jupyter server list`",
                }
            },
        },
        "security": [{"jupyterToken": []}],
    }


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


_RUN_ID = {
    **_path_param("run_id", "A run id as listed by GET /training/runs (`YYYYmmdd-HHMMSS-xxxxxx`)"),
    "schema": {"type": "string", "pattern": f"^{RUN_ID.pattern}$"},
}


def _body(model: str, description: str) -> dict[str, Any]:
    content = {"application/json": {"schema": _ref(model)}}
    return {"required": False, "description": description, "content": content}


def _run_paths(op: Any, body_errors: tuple[type[EegtrainError], ...]) -> dict[str, Any]:
    """Operations on one recorded run."""

    def with_params(operation: dict[str, Any], *extra: dict[str, Any]) -> dict[str, Any]:
        return {**operation, "parameters": [_RUN_ID, *extra]}

    name = _path_param("name", "A file name from the run's `downloads`")

    def post(
        summary: str, response: tuple[str, str], request: tuple[str, str], *errs: type[EegtrainError]
    ) -> dict[str, Any]:
        """A POST on one run whose body is ``request`` (model, description): 400/404/409 and
        ``errs`` besides."""
        operation = with_params(
            op(summary, _json(_ref(response[0]), response[1]), *body_errors, NotFound, Conflict, *errs)
        )
        return {**operation, "requestBody": _body(*request)}

    predict = post(
        "Class probabilities and labels per window, from windows or a recording path",
        ("Prediction", "Per-window prediction"),
        ("PredictRequest", "Windows (µV) or a recording path inside the root"),
    )
    evaluate = post(
        "Score the run's model on labelled recordings, labelled and preprocessed as in training",
        ("Evaluation", "The held-out test report's scores on the recordings"),
        ("EvaluateRequest", "Recordings or globs inside the root; what replaces the run's labelling"),
    )
    evaluate["requestBody"]["required"] = True
    export = post(
        "Export the best checkpoint (ONNX or torch.export) and check it against torch",
        ("ExportResult", "The file and its parity report"),
        ("ExportRequest", "The format (default onnx)"),
        MissingDependency,
        InsufficientStorage,
    )
    return {
        "/training/runs/{run_id}": {
            "get": with_params(
                op(
                    "One run in full: record, metrics, model card, downloadable files",
                    _json(_ref("RunDetail"), "The run"),
                    NotFound,
                )
            ),
            "delete": with_params(
                op(
                    "Delete a run's folder (not the active run)",
                    _json(_ref("Deleted"), "Deleted"),
                    NotFound,
                    Conflict,
                )
            ),
        },
        "/training/runs/{run_id}/files/{name}": {
            "get": with_params(
                op(
                    "Download one of the run's own files",
                    {
                        "description": "The file",
                        "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    NotFound,
                ),
                name,
            )
        },
        "/training/runs/{run_id}/predict": {"post": predict},
        "/training/runs/{run_id}/evaluate": {"post": evaluate},
        "/training/runs/{run_id}/export": {"post": export},
    }


def openapi_document(base_url: str = "/") -> dict[str, Any]:
    """The OpenAPI document, with ``servers`` set to the server's ``base_url``."""
    doc = copy.deepcopy(_document())
    doc["servers"] = [{"url": base_url}]
    return doc
