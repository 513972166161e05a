"""How hireflow's clients reach the Orchestration Cluster: unprotected, BASIC or OAuth, plain or TLS.

The worker pool (gRPC) and the webapp and model deployer (REST v2) read one set of
settings, named as Camunda documents them for its own clients, so an operator configures
hireflow like any other Camunda client:

``CAMUNDA_AUTH_STRATEGY``
    ``NONE``, ``BASIC`` or ``OAUTH``; inferred from the credentials when unset (both kinds
    set is an error, as in Camunda's SDKs).
``ZEEBE_GRPC_ADDRESS`` (or ``ZEEBE_ADDRESS``)
    The gateway's gRPC address, ``host:port``; ``grpcs://`` or ``https://`` asks for TLS.
``CAMUNDA_REST_ADDRESS`` (or ``ZEEBE_REST_ADDRESS``)
    The REST API's base URL; a trailing ``/v2`` is accepted and dropped.
``CAMUNDA_CLIENT_ID``, ``CAMUNDA_CLIENT_SECRET``, ``CAMUNDA_OAUTH_URL``,
``CAMUNDA_TOKEN_AUDIENCE``, ``CAMUNDA_TOKEN_SCOPE``
    OAuth 2.0 client credentials (``ZEEBE_CLIENT_ID`` and friends are read as fallbacks).
``CAMUNDA_BASIC_AUTH_USERNAME``, ``CAMUNDA_BASIC_AUTH_PASSWORD``
    BASIC credentials: a user of the cluster (``camunda.security.authentication.method: basic``).
``CAMUNDA_CA_CERTIFICATE_PATH``
    A PEM bundle that signs the gateway's certificate; implies TLS.
``CAMUNDA_SECURE_CONNECTION``
    ``true``/``false`` forces TLS on or off when the address does not say.

With no settings at all the result is the local, unprotected engine of ``make run``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import requests
from pyzeebe.channel.channel_options import get_channel_options

log = logging.getLogger(__name__)

NONE, BASIC, OAUTH = "NONE", "BASIC", "OAUTH"
STRATEGIES = (NONE, BASIC, OAUTH)
# Camunda's SDKs use these defaults for OAuth (Camunda SaaS); self-managed sets its own.
DEFAULT_OAUTH_URL = "https://login.cloud.camunda.io/oauth/token"
DEFAULT_TOKEN_AUDIENCE = "zeebe.camunda.io"
LOCAL_GRPC_ADDRESS = "localhost:26500"
LOCAL_REST_ADDRESS = "http://localhost:8080"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConnectionSettingsError(ValueError):
    """The connection settings contradict each other or miss a required value."""


def _first(env: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return ""


def _split_scheme(address: str) -> tuple[str, bool | None]:
    """``grpcs://host:port`` -> (``host:port``, True); a bare ``host:port`` says nothing of TLS."""
    for scheme, tls in (("grpcs://", True), ("https://", True), ("grpc://", False), ("http://", False)):
        if address.startswith(scheme):
            return address[len(scheme) :].rstrip("/"), tls
    return address, None


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the cluster is, how to prove who we are, and whether to use TLS."""

    grpc_address: str = LOCAL_GRPC_ADDRESS
    rest_address: str = LOCAL_REST_ADDRESS
    strategy: str = NONE
    tls: bool = False
    ca_certificate_path: Path | None = None
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    oauth_url: str = DEFAULT_OAUTH_URL
    audience: str = DEFAULT_TOKEN_AUDIENCE
    scope: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ConnectionSettings:
        """Read the documented variables (see the module docstring); raise on contradictions."""
        env = os.environ if env is None else env
        client_id = _first(env, "CAMUNDA_CLIENT_ID", "CAMUNDA_CLIENT_AUTH_CLIENTID", "ZEEBE_CLIENT_ID")
        client_secret = _first(
            env, "CAMUNDA_CLIENT_SECRET", "CAMUNDA_CLIENT_AUTH_CLIENTSECRET", "ZEEBE_CLIENT_SECRET"
        )
        username = _first(env, "CAMUNDA_BASIC_AUTH_USERNAME")
        password = _first(env, "CAMUNDA_BASIC_AUTH_PASSWORD")
        strategy = _first(env, "CAMUNDA_AUTH_STRATEGY").upper()
        if not strategy:
            has_oauth, has_basic = bool(client_id or client_secret), bool(username or password)
            if has_oauth and has_basic:
                raise ConnectionSettingsError(
                    "Both OAuth client credentials and BASIC credentials are set; "
                    "set CAMUNDA_AUTH_STRATEGY to OAUTH or BASIC to choose"
                )
            strategy = OAUTH if has_oauth else BASIC if has_basic else NONE
        if strategy not in STRATEGIES:
            raise ConnectionSettingsError(
                f"CAMUNDA_AUTH_STRATEGY={strategy!r} is not one of {', '.join(STRATEGIES)}"
            )

        grpc_address, grpc_tls = _split_scheme(
            _first(env, "ZEEBE_GRPC_ADDRESS", "CAMUNDA_GRPC_ADDRESS", "ZEEBE_ADDRESS") or LOCAL_GRPC_ADDRESS
        )
        rest_address = _first(env, "CAMUNDA_REST_ADDRESS", "ZEEBE_REST_ADDRESS") or LOCAL_REST_ADDRESS
        rest_address = rest_address.rstrip("/").removesuffix("/v2")
        ca_path = _first(env, "CAMUNDA_CA_CERTIFICATE_PATH", "ZEEBE_CA_CERTIFICATE_PATH")
        secure = _first(env, "CAMUNDA_SECURE_CONNECTION").lower()
        if secure and secure not in _TRUE | _FALSE:
            raise ConnectionSettingsError(f"CAMUNDA_SECURE_CONNECTION={secure!r} is not true or false")
        if secure in _TRUE:
            tls = True
        elif secure in _FALSE:
            if grpc_tls or ca_path:
                raise ConnectionSettingsError(
                    "CAMUNDA_SECURE_CONNECTION=false contradicts a grpcs:// address or a CA certificate"
                )
            tls = False
        else:
            tls = bool(grpc_tls or ca_path)
        if ca_path and not Path(ca_path).is_file():
            raise ConnectionSettingsError(f"CAMUNDA_CA_CERTIFICATE_PATH={ca_path} is not a readable file")

        settings = cls(
            grpc_address=grpc_address,
            rest_address=rest_address,
            strategy=strategy,
            tls=tls,
            ca_certificate_path=Path(ca_path) if ca_path else None,
            client_id=client_id,
            client_secret=client_secret,
            oauth_url=_first(env, "CAMUNDA_OAUTH_URL", "ZEEBE_AUTHORIZATION_SERVER_URL") or DEFAULT_OAUTH_URL,
            audience=_first(env, "CAMUNDA_TOKEN_AUDIENCE", "ZEEBE_TOKEN_AUDIENCE") or DEFAULT_TOKEN_AUDIENCE,
            scope=_first(env, "CAMUNDA_TOKEN_SCOPE", "ZEEBE_TOKEN_SCOPE"),
            username=username,
            password=password,
        )
        settings._check_credentials()
        return settings

    def _check_credentials(self) -> None:
        if self.strategy == OAUTH and not (self.client_id and self.client_secret):
            raise ConnectionSettingsError(
                "CAMUNDA_AUTH_STRATEGY=OAUTH needs CAMUNDA_CLIENT_ID and CAMUNDA_CLIENT_SECRET"
            )
        if self.strategy == BASIC and not (self.username and self.password):
            raise ConnectionSettingsError(
                "CAMUNDA_AUTH_STRATEGY=BASIC needs CAMUNDA_BASIC_AUTH_USERNAME "
                "and CAMUNDA_BASIC_AUTH_PASSWORD"
            )

    def describe(self, *, rest: bool = True) -> str:
        """One log line, without secrets; ``rest=False`` for a client that speaks gRPC only."""
        who = {
            NONE: "no credentials (unprotected API)",
            BASIC: f"BASIC as {self.username}",
            OAUTH: f"OAuth client {self.client_id} via {self.oauth_url}",
        }[self.strategy]
        transport = "TLS" if self.tls else "plaintext"
        rest_part = f", REST {self.rest_address}" if rest else ""
        return f"gRPC {self.grpc_address}{rest_part}, {transport}, {who}"


class TokenUnavailable(Exception):
    """No access token could be had; ``rejected`` is True when the token endpoint refused us."""

    def __init__(self, reason: str, *, rejected: bool):
        super().__init__(reason)
        self.rejected = rejected


class OAuthTokenSource:
    """OAuth 2.0 client credentials: one cached token, fetched again shortly before it expires.

    Thread-safe: gRPC's credential threads, the event loop and the webapp's threads share it.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        session: requests.Session | None = None,
        leeway_seconds: float = 30.0,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.session = session or requests.Session()
        self.leeway_seconds = leeway_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.fetches = 0
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        """A valid access token, from the cache or freshly fetched."""
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at:
                self._token, lifetime = self._fetch()
                # Refresh a little early, but never sooner than half the token's life.
                self._expires_at = self.clock() + max(lifetime - self.leeway_seconds, lifetime / 2)
            return self._token

    def _fetch(self) -> tuple[str, float]:
        s = self.settings
        form = {
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret,
        }
        if s.audience:
            form["audience"] = s.audience
        if s.scope:
            form["scope"] = s.scope
        try:
            response = self.session.post(s.oauth_url, data=form, timeout=self.timeout_seconds)
        except requests.RequestException as exc:
            reason = f"token endpoint {s.oauth_url} unreachable: {exc}"
            raise TokenUnavailable(reason, rejected=False) from exc
        if response.status_code >= 500:
            raise TokenUnavailable(
                f"token endpoint {s.oauth_url} failed with {response.status_code}", rejected=False
            )
        if response.status_code != 200:
            raise TokenUnavailable(
                f"token endpoint {s.oauth_url} refused client {s.client_id!r}: "
                f"{response.status_code} {response.text[:200]}",
                rejected=True,
            )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError) as exc:
            reason = f"token endpoint {s.oauth_url} sent no access_token"
            raise TokenUnavailable(reason, rejected=False) from exc
        self.fetches += 1
        log.info("fetched an access token for client %s from %s", s.client_id, s.oauth_url)
        return token, float(body.get("expires_in") or 300)


class Credentials:
    """The ``authorization`` header value for the chosen strategy (None when unprotected)."""

    def __init__(self, settings: ConnectionSettings, token_source: OAuthTokenSource | None = None):
        self.settings = settings
        self.token_source = token_source
        if settings.strategy == OAUTH and token_source is None:
            self.token_source = OAuthTokenSource(settings)
        self._basic = (
            "Basic " + base64.b64encode(f"{settings.username}:{settings.password}".encode()).decode()
            if settings.strategy == BASIC
            else None
        )

    def header(self) -> str | None:
        """The header value; raises TokenUnavailable when OAuth cannot get a token."""
        if self.settings.strategy == OAUTH:
            assert self.token_source is not None
            return "Bearer " + self.token_source.token()
        return self._basic


# -- gRPC --


def _unavailable(exc: TokenUnavailable) -> grpc.aio.AioRpcError:
    # UNAVAILABLE is retried by pyzeebe (an identity provider that is down comes back);
    # UNAUTHENTICATED (a refused secret) stops the worker loudly so the supervisor shows it.
    code = grpc.StatusCode.UNAUTHENTICATED if exc.rejected else grpc.StatusCode.UNAVAILABLE
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=str(exc))


class _AddsAuthorization:
    """Adds the authorization header to every call on a plaintext channel.

    gRPC only sends call credentials over TLS; inside a private network (a Kubernetes
    namespace, a compose network) the gateway is often plaintext, as Camunda's clients allow.
    """

    def __init__(self, credentials: Credentials):
        self.credentials = credentials

    async def _with_header(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        try:
            # A token fetch is a blocking HTTP call; keep it off the event loop.
            value = await asyncio.to_thread(self.credentials.header)
        except TokenUnavailable as exc:
            raise _unavailable(exc) from exc
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if value:
            metadata.add("authorization", value)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


# grpc.aio files an interceptor under the first call kind it implements only, so each
# kind gets its own class.
class _UnaryUnaryAuthorization(_AddsAuthorization, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(await self._with_header(client_call_details), request)


class _UnaryStreamAuthorization(_AddsAuthorization, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(await self._with_header(client_call_details), request)


class _StreamUnaryAuthorization(_AddsAuthorization, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await continuation(await self._with_header(client_call_details), request_iterator)


class _StreamStreamAuthorization(_AddsAuthorization, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await continuation(await self._with_header(client_call_details), request_iterator)


class _AuthorizationPlugin(grpc.AuthMetadataPlugin):
    """The same header as call credentials, for TLS channels (gRPC calls it on its own threads)."""

    def __init__(self, credentials: Credentials):
        self.credentials = credentials

    def __call__(self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback) -> None:
        try:
            value = self.credentials.header()
        except TokenUnavailable as exc:
            callback((), exc)
            return
        callback((("authorization", value),) if value else (), None)


def grpc_channel(settings: ConnectionSettings, credentials: Credentials | None = None) -> grpc.aio.Channel:
    """A pyzeebe-ready channel to the gateway. Call it inside the running event loop."""
    credentials = credentials or Credentials(settings)
    options = get_channel_options(None)
    if settings.tls:
        root = settings.ca_certificate_path.read_bytes() if settings.ca_certificate_path else None
        channel_credentials = grpc.ssl_channel_credentials(root_certificates=root)
        if settings.strategy != NONE:
            channel_credentials = grpc.composite_channel_credentials(
                channel_credentials, grpc.metadata_call_credentials(_AuthorizationPlugin(credentials))
            )
        return grpc.aio.secure_channel(settings.grpc_address, channel_credentials, options=options)
    if settings.strategy == NONE:
        return grpc.aio.insecure_channel(settings.grpc_address, options=options)
    log.warning(
        "sending %s credentials to %s without TLS: acceptable only inside a private network",
        settings.strategy,
        settings.grpc_address,
    )
    return grpc.aio.insecure_channel(
        settings.grpc_address,
        options=options,
        interceptors=[
            kind(credentials)
            for kind in (
                _UnaryUnaryAuthorization,
                _UnaryStreamAuthorization,
                _StreamUnaryAuthorization,
                _StreamStreamAuthorization,
            )
        ],
    )


# -- REST --


class RequestsAuth(requests.auth.AuthBase):
    """``requests`` auth that sets the same authorization header on every REST call."""

    def __init__(self, credentials: Credentials):
        self.credentials = credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        value = self.credentials.header()
        if value:
            request.headers["Authorization"] = value
        return request


def configure_session(session: requests.Session, settings: ConnectionSettings) -> requests.Session:
    """Give a REST session the settings' credentials and CA bundle; returns it for chaining."""
    if settings.strategy != NONE:
        session.auth = RequestsAuth(Credentials(settings))
    if settings.ca_certificate_path:
        session.verify = str(settings.ca_certificate_path)
    return session
