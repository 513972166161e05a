"""``/healthz``: the process answers. ``/readyz``: the engine, the database and the file store answer too."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from hireflow.adapters.file_store import FileStoreUnavailable
from hireflow.camunda_rest import NOT_THE_ENGINE
from webapp.engine import EngineRejected, EngineUnavailable, call_engine
from webapp.http import hireflow

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def _engine_check() -> dict:
    try:
        topology = call_engine("reading the topology", hireflow().gateway.client.topology)
    except (EngineUnavailable, EngineRejected) as exc:
        return {"ok": False, "detail": str(exc)}
    try:
        partitions = [p for broker in topology.get("brokers", []) for p in broker.get("partitions", [])]
        unhealthy = [p["partitionId"] for p in partitions if p.get("health") != "healthy"]
    except (AttributeError, TypeError, KeyError):  # JSON, but not a topology: another server answered
        return {"ok": False, "detail": f"the answer to /v2/topology is not a topology, {NOT_THE_ENGINE}"}
    if not partitions:
        return {"ok": False, "detail": "the engine reports no partitions yet"}
    if unhealthy:
        return {"ok": False, "detail": f"partitions not healthy: {unhealthy}"}
    return {
        "ok": True,
        "detail": f"{len(partitions)} healthy partition(s), gateway {topology.get('gatewayVersion')}",
    }


def _database_check() -> dict:
    try:
        with hireflow().services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; say which
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "detail": hireflow().services.db.engine.dialect.name}


def _files_check() -> dict:
    try:
        return {"ok": True, "detail": hireflow().services.files.check()}
    except FileStoreUnavailable as exc:
        return {"ok": False, "detail": str(exc)}


@bp.get("/readyz")
def readyz():
    checks = {"engine": _engine_check(), "database": _database_check(), "files": _files_check()}
    ready = all(check["ok"] for check in checks.values())
    response = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return response
