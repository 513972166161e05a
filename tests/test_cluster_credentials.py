"""Credentialed connections to a secured cluster (issue 7): settings, tokens, and the pool end to end.

A cloud cluster with an identity provider is out of reach here, so its two parts stand in
(tests/auth_stubs.py): an OAuth token endpoint, and a gRPC gateway whose interceptor
admits only the tokens that endpoint issued, forwarding to the real engine. The worker
pool runs as ``python -m job_workers``, as its image runs it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hireflow.camunda_connection import (
    ConnectionSettings,
    ConnectionSettingsError,
    Credentials,
    OAuthTokenSource,
    TokenUnavailable,
    configure_session,
)
from hireflow.engine.embedded import free_port
from hireflow.store import BusinessRecord, Database
from tests.auth_stubs import AuthenticatingGateway, OAuthTokenStub
from tests.engine_helpers import unique_key, wait_until_completed

CLIENT_ID, CLIENT_SECRET = "hireflow-workers", "s3cret-from-the-identity-provider"
AUDIENCE = "orchestration-api"

# A one-task process whose job type the pool serves: completing it proves the pool's
# calls went through the authenticating gateway.
PROBE_PROCESS_ID = "credentials-probe"
PROBE_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="probe-definitions"
    targetNamespace="http://hireflow.example/tests">
  <bpmn:process id="{PROBE_PROCESS_ID}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>to-record</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="record" name="Record through the secured gateway">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="resume.record-outcome" />
        <zeebe:taskHeaders><zeebe:header key="outcome" value="checked-through-auth" /></zeebe:taskHeaders>
      </bpmn:extensionElements>
      <bpmn:incoming>to-record</bpmn:incoming><bpmn:outgoing>to-end</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>to-end</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="to-record" sourceRef="start" targetRef="record" />
    <bpmn:sequenceFlow id="to-end" sourceRef="record" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


# -- settings --


def test_no_settings_mean_the_local_unprotected_engine():
    settings = ConnectionSettings.from_environment({})
    assert (settings.grpc_address, settings.strategy, settings.tls) == ("localhost:26500", "NONE", False)


def test_oauth_settings_are_read_as_camunda_documents_them(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = ConnectionSettings.from_environment(
        {
            "ZEEBE_GRPC_ADDRESS": "grpcs://zeebe.example:443",
            "CAMUNDA_REST_ADDRESS": "https://camunda.example/v2/",
            "CAMUNDA_CLIENT_ID": CLIENT_ID,
            "CAMUNDA_CLIENT_SECRET": CLIENT_SECRET,
            "CAMUNDA_OAUTH_URL": "https://idp.example/token",
            "CAMUNDA_TOKEN_AUDIENCE": AUDIENCE,
            "CAMUNDA_CA_CERTIFICATE_PATH": str(ca),
        }
    )
    assert settings.strategy == "OAUTH"  # inferred from the client credentials
    assert settings.grpc_address == "zeebe.example:443" and settings.tls
    assert settings.rest_address == "https://camunda.example"
    assert settings.ca_certificate_path == ca
    assert CLIENT_SECRET not in settings.describe() and CLIENT_SECRET not in repr(settings)
    # The workers speak gRPC only: their log line leaves out a REST address they never use.
    assert "REST https://camunda.example" in settings.describe()
    assert "REST" not in settings.describe(rest=False)


def test_legacy_zeebe_variables_are_read_as_fallbacks():
    settings = ConnectionSettings.from_environment(
        {"ZEEBE_ADDRESS": "gateway:26500", "ZEEBE_CLIENT_ID": "a", "ZEEBE_CLIENT_SECRET": "b"}
    )
    assert (settings.grpc_address, settings.strategy, settings.client_id) == ("gateway:26500", "OAUTH", "a")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CAMUNDA_AUTH_STRATEGY": "KERBEROS"}, "is not one of"),
        ({"CAMUNDA_AUTH_STRATEGY": "OAUTH", "CAMUNDA_CLIENT_ID": "x"}, "needs CAMUNDA_CLIENT_ID and"),
        ({"CAMUNDA_AUTH_STRATEGY": "BASIC"}, "needs CAMUNDA_BASIC_AUTH_USERNAME"),
        (
            {"CAMUNDA_CLIENT_ID": "x", "CAMUNDA_CLIENT_SECRET": "y", "CAMUNDA_BASIC_AUTH_USERNAME": "u"},
            "set CAMUNDA_AUTH_STRATEGY",
        ),
        ({"CAMUNDA_CA_CERTIFICATE_PATH": "/nowhere/ca.pem"}, "not a readable file"),
        ({"ZEEBE_GRPC_ADDRESS": "grpcs://gw:443", "CAMUNDA_SECURE_CONNECTION": "false"}, "contradicts"),
    ],
)
def test_contradicting_or_incomplete_settings_are_refused_with_the_reason(env, message):
    with pytest.raises(ConnectionSettingsError, match=message):
        ConnectionSettings.from_environment(env)


def test_basic_credentials_become_a_basic_header():
    settings = ConnectionSettings.from_environment(
        {"CAMUNDA_BASIC_AUTH_USERNAME": "hireflow", "CAMUNDA_BASIC_AUTH_PASSWORD": "pw"}
    )
    assert settings.strategy == "BASIC"
    assert Credentials(settings).header() == "Basic aGlyZWZsb3c6cHc="


# -- tokens --


@pytest.fixture
def token_stub():
    stub = OAuthTokenStub(clients={CLIENT_ID: CLIENT_SECRET}).start()
    yield stub
    stub.stop()


def oauth_settings(stub: OAuthTokenStub, secret: str = CLIENT_SECRET, **extra: str) -> ConnectionSettings:
    return ConnectionSettings.from_environment(
        {
            "CAMUNDA_CLIENT_ID": CLIENT_ID,
            "CAMUNDA_CLIENT_SECRET": secret,
            "CAMUNDA_OAUTH_URL": stub.token_url,
            "CAMUNDA_TOKEN_AUDIENCE": AUDIENCE,
            **extra,
        }
    )


def test_a_token_is_fetched_once_and_again_only_near_its_expiry(token_stub):
    now = [1000.0]
    source = OAuthTokenSource(oauth_settings(token_stub), clock=lambda: now[0], leeway_seconds=30)
    first = source.token()
    assert source.token() == first and source.fetches == 1
    now[0] += 300 - 31  # still outside the leeway
    assert source.token() == first
    now[0] += 2  # inside it: a fresh token before the old one lapses
    assert source.token() != first and source.fetches == 2
    assert token_stub.requests[0] == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "audience": AUDIENCE,
        "scope": None,
    }


def test_a_refused_secret_and_an_absent_endpoint_are_told_apart(token_stub):
    with pytest.raises(TokenUnavailable, match="refused client") as refused:
        OAuthTokenSource(oauth_settings(token_stub, secret="wrong")).token()
    assert refused.value.rejected
    gone = ConnectionSettings.from_environment(
        {"CAMUNDA_CLIENT_ID": "a", "CAMUNDA_CLIENT_SECRET": "b", "CAMUNDA_OAUTH_URL": "http://127.0.0.1:9/t"}
    )
    with pytest.raises(TokenUnavailable, match="unreachable") as unreachable:
        OAuthTokenSource(gone, timeout_seconds=2).token()
    assert not unreachable.value.rejected


def test_rest_calls_carry_the_bearer_token(token_stub):
    session = configure_session(requests.Session(), oauth_settings(token_stub))
    response = session.get(token_stub.token_url.replace("/oauth/token", "/userinfo"), timeout=5)
    assert response.status_code == 200 and response.json() == {"client_id": CLIENT_ID}


def test_the_webapp_answers_503_not_500_when_no_token_can_be_had(tmp_path, monkeypatch):
    from tests.offline_webapp import empty_services
    from webapp import create_app

    monkeypatch.setenv("CAMUNDA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CAMUNDA_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("CAMUNDA_OAUTH_URL", f"http://127.0.0.1:{free_port()}/oauth/token")
    app = create_app(
        {"TESTING": True, "ENGINE_REST_URL": f"http://127.0.0.1:{free_port()}", "ADMIN_TOKEN": "t"},
        services=empty_services(tmp_path),
    )
    response = app.test_client().get("/api/admin/processes", headers={"Authorization": "Bearer t"})
    assert response.status_code == 503, response.get_data(as_text=True)
    assert "access token" in response.get_json()["detail"]


# -- the worker pool through an authenticating gateway --


def self_signed_certificate(folder: Path) -> tuple[Path, bytes, bytes]:
    """A certificate for localhost and its key: the gateway's TLS identity and the client's CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = folder / "gateway-ca.pem"
    path.write_bytes(cert_pem)
    return path, cert_pem, key_pem


def pool_environment(tmp_path: Path, connection: dict[str, str]) -> dict[str, str]:
    """The pool's environment: this one without any cluster settings, plus ``connection``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMUNDA_", "ZEEBE_"))}
    return {
        **env,
        **connection,
        "HIREFLOW_DATA_DIR": str(tmp_path / "data"),
        "HIREFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'pool.sqlite3'}",
        "HIREFLOW_FILES_DIR": str(tmp_path / "files"),
        "HIREFLOW_WORKER_PROCESSES": "1",
        "HIREFLOW_WORKER_STATUS_PORT": str(free_port()),
    }


def start_pool(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "job_workers"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def stop_pool(pool: subprocess.Popen) -> None:
    if pool.poll() is None:
        pool.terminate()
        try:
            pool.wait(60)
        except subprocess.TimeoutExpired:
            pool.kill()


@pytest.mark.engine
# The pool here must be the only worker for the probe's product job type.
@pytest.mark.before_session_worker
@pytest.mark.parametrize("transport", ["plaintext", "tls"])
def test_the_pool_fetches_a_token_and_presents_it_to_the_gateway(
    process_engine, token_stub, tmp_path, transport
):
    connection = {
        "CAMUNDA_AUTH_STRATEGY": "OAUTH",
        "CAMUNDA_CLIENT_ID": CLIENT_ID,
        "CAMUNDA_CLIENT_SECRET": CLIENT_SECRET,
        "CAMUNDA_OAUTH_URL": token_stub.token_url,
        "CAMUNDA_TOKEN_AUDIENCE": AUDIENCE,
    }
    server_credentials = None
    if transport == "tls":
        ca_path, cert_pem, key_pem = self_signed_certificate(tmp_path)
        server_credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)])
        connection["CAMUNDA_CA_CERTIFICATE_PATH"] = str(ca_path)
    gateway = AuthenticatingGateway(
        process_engine.grpc_address,
        lambda token: token_stub.client_of(token) == CLIENT_ID,
        server_credentials=server_credentials,
    ).start()
    scheme = "grpcs://localhost" if transport == "tls" else "127.0.0.1"
    connection["ZEEBE_GRPC_ADDRESS"] = f"{scheme}:{gateway.port}"
    env = pool_environment(tmp_path, connection)
    process_engine.client.deploy_resources([(f"{PROBE_PROCESS_ID}.bpmn", PROBE_BPMN.encode())])
    resume_id = unique_key("res")
    instance = process_engine.client.create_process_instance(PROBE_PROCESS_ID, {"resume_id": resume_id})

    pool = start_pool(env, tmp_path / "pool.log")
    try:
        wait_until_completed(process_engine.client, instance["processInstanceKey"], timeout=60)
        health = requests.get(f"http://127.0.0.1:{env['HIREFLOW_WORKER_STATUS_PORT']}/healthz", timeout=5)
    finally:
        stop_pool(pool)
        gateway.stop()
    log = (tmp_path / "pool.log").read_text()

    issued = {r["client_id"] for r in token_stub.requests}
    assert issued == {CLIENT_ID}, log
    assert {r["audience"] for r in token_stub.requests} == {AUDIENCE}
    methods = {c.method.rsplit("/", 1)[-1] for c in gateway.allowed()}
    assert "CompleteJob" in methods and methods & {"StreamActivatedJobs", "ActivateJobs"}, log
    assert all(c.authorization.removeprefix("Bearer ") in token_stub.issued for c in gateway.allowed())
    assert gateway.denied() == [], log
    assert health.status_code == 200
    with Database(env["HIREFLOW_DATABASE_URL"]).sessions() as session:
        record = session.get(BusinessRecord, ("resume", resume_id))
    assert record is not None and record.status == "checked-through-auth"
    assert f"OAuth client {CLIENT_ID}" in log and CLIENT_SECRET not in log


@pytest.mark.engine
def test_the_gateway_refuses_calls_without_a_valid_token_and_the_pool_gets_none(
    process_engine, token_stub, tmp_path
):
    gateway = AuthenticatingGateway(
        process_engine.grpc_address, lambda t: token_stub.client_of(t) is not None
    )
    gateway.start()
    try:
        # A client that presents nothing is turned away by the interceptor.
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            topology = channel.unary_unary("/gateway_protocol.Gateway/Topology")
            with pytest.raises(grpc.RpcError) as refused:
                topology(b"", timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

        # A pool with a wrong secret never gets a token, so it never reaches the gateway.
        env = pool_environment(
            tmp_path,
            {
                "CAMUNDA_CLIENT_ID": CLIENT_ID,
                "CAMUNDA_CLIENT_SECRET": "not-the-secret",
                "CAMUNDA_OAUTH_URL": token_stub.token_url,
                "ZEEBE_GRPC_ADDRESS": f"127.0.0.1:{gateway.port}",
            },
        )
        pool = start_pool(env, tmp_path / "pool.log")
        try:
            deadline = time.monotonic() + 30
            while not token_stub.requests and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1)
        finally:
            stop_pool(pool)
    finally:
        gateway.stop()
    log = (tmp_path / "pool.log").read_text()
    assert token_stub.requests and not token_stub.issued, log
    assert gateway.allowed() == []
    assert [c.authorization for c in gateway.denied()] == [None]  # only the bare client above
    assert "refused client 'hireflow-workers'" in log
    # One line says why the worker cannot work; no traceback buries it.
    assert "worker-0 cannot work: the gateway answered UNAUTHENTICATED: token endpoint" in log, log
    assert "Traceback" not in log, log
