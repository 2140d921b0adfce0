"""OpenAPI 3.1 document of the training REST API, generated from pydantic models.

The request schema is :class:`~eegtrain_jupyter.config.TrainingConfig` itself (every field
has a default, so any subset is a valid body); the response models below mirror what
:class:`~eegtrain_jupyter.service.TrainingManager` returns, and the server tests check
real responses against them.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..config import TrainingConfig
from ..service import TrainingState

__all__ = ["openapi_document", "RESPONSE_MODELS"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldErrorBody(_Strict):
    field: str
    message: str


class ErrorBody(_Strict):
    """Every 4xx/5xx body; ``run_id`` only on 409."""

    error: str
    errors: list[FieldErrorBody]
    run_id: str | None = None


class ValidationBody(_Strict):
    valid: bool
    errors: list[FieldErrorBody]
    config: TrainingConfig | None


class Metrics(_Strict):
    train_losses: list[float]
    val_losses: list[float]
    train_accs: list[float]
    val_accs: list[float]


class BatchProgress(_Strict):
    epoch: int
    batch: int
    n_batches: int
    phase: str


class Status(_Strict):
    """The seed's status fields, then state, phase, batch progress, error and run facts."""

    is_training: bool
    current_epoch: int
    total_epochs: int
    train_loss: float | None
    val_loss: float | None
    train_acc: float | None
    val_acc: float | None
    best_val_acc: float | None
    elapsed_time: float | None
    elapsed_time_formatted: str | None
    eta: float | None
    eta_formatted: str | None
    config: TrainingConfig
    history: Metrics
    state: TrainingState
    phase: str | None
    batch: BatchProgress | None
    error: str | None
    run_id: str | None
    device: str | None
    precision: str | None
    backbone: dict[str, Any] | None
    started_at: str | None
    finished_at: str | None
    run_dir: str | None
    save_dir: str | None


class History(_Strict):
    run_id: str | None
    state: TrainingState
    train_losses: list[float]
    val_losses: list[float]
    train_accs: list[float]
    val_accs: list[float]
    epoch_times: list[float]
    best_val_acc: float | None
    best_epoch: int | None


class RunRecord(_Strict):
    run_id: str
    state: TrainingState
    config: TrainingConfig
    save_dir: str
    run_dir: str
    started_at: str
    finished_at: str | None
    duration: float | None
    epochs_completed: int
    best_val_acc: float | None
    best_epoch: int | None
    error: str | None
    device: str | None
    precision: str | None
    backbone: dict[str, Any] | None
    epoch_times: list[float]


class Runs(_Strict):
    runs: list[RunRecord]


RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (ErrorBody, ValidationBody, Status, History, Runs)
}
"""Response models by schema name (tests validate live responses against them)."""

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid body or configuration; `errors` names each field",
        403: "Missing or wrong token, missing XSRF token (cookie auth), or not authorized",
        409: "Training already in progress",
        413: "Request body too large",
        415: "Content-Type is not application/json",
        503: "Not enough memory (or GPU memory) for this configuration",
    }
    return {str(c): _json(_ref("ErrorBody"), text[c]) for c in codes}


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    models = [(TrainingConfig, "validation"), *((m, "serialization") for m in RESPONSE_MODELS.values())]
    _, defs = models_json_schema(models, ref_template=_REF)
    schemas = defs["$defs"]
    body = {
        "required": False,
        "description": "A partial TrainingConfig: omitted fields take their defaults.",
        "content": {"application/json": {"schema": _ref("TrainingConfig")}},
    }
    status_ok = _json(_ref("Status"), "Status snapshot of the current/last run")

    def op(summary: str, ok: dict[str, Any], *errs: int, request: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **_errors(403, *errs)}}
        if request:
            out["requestBody"] = body
        return out

    paths = {
        "/training/start": {"post": op(
            "Validate the config and start a training run in the background", status_ok,
            400, 409, 413, 415, 503, request=True)},
        "/training/stop": {"post": op("Ask the active run to stop (a no-op when idle)", status_ok)},
        "/training/status": {"get": op("Status of the current/last run", status_ok)},
        "/training/history": {"get": op(
            "Per-epoch metrics of the current/last run", _json(_ref("History"), "Metrics"))},
        "/training/runs": {"get": op(
            "Every recorded run, newest first", _json(_ref("Runs"), "Run records"))},
        "/training/config": {"get": op(
            "The default configuration", _json(_ref("TrainingConfig"), "Defaults"))},
        "/training/config/schema": {"get": op(
            "JSON Schema of the configuration, with presets",
            _json({"type": "object"}, "JSON Schema with a `presets` object"))},
        "/training/config/validate": {"post": op(
            "Validate a partial configuration without starting (200 even when invalid)",
            _json(_ref("ValidationBody"), "Validation result"), 400, 413, 415, request=True)},
        "/training/openapi.json": {"get": op(
            "This document", _json({"type": "object"}, "OpenAPI 3.1 document"))},
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
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`token <token>`; find the token with `jupyter server list`",
                }
            },
        },
        "security": [{"jupyterToken": []}],
    }


def openapi_document(base_url: str = "/") -> dict[str, Any]:
    """The OpenAPI document, with ``servers`` set to the server's ``base_url``."""
    doc = copy.deepcopy(_document())
    doc["servers"] = [{"url": base_url}]
    return doc
