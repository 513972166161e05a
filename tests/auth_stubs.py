"""Stand-ins for what a secured cluster puts in front of clients, for tests without a cloud.

* ``OAuthTokenStub``: an OAuth 2.0 token endpoint (client credentials grant), as an
  identity provider such as Keycloak serves it to Camunda's clients.
* ``AuthenticatingGateway``: a gRPC gateway in front of the real engine whose server
  interceptor lets a call through only with a bearer token the stub issued, which is what
  the Zeebe gateway does with OIDC. Calls are forwarded byte for byte to the engine.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from flask import Flask, jsonify, request

from hireflow.serving import RunningServer, serve_in_thread

# Gateway methods that answer with a stream; every other one answers once.
STREAMING_METHODS = {
    "/gateway_protocol.Gateway/ActivateJobs",
    "/gateway_protocol.Gateway/StreamActivatedJobs",
}


@dataclass
class OAuthTokenStub:
    """Issues opaque bearer tokens to known clients and remembers every request."""

    clients: dict[str, str]
    expires_in: int = 300
    requests: list[dict] = field(default_factory=list)
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (client, expiry)
    server: RunningServer | None = None

    def create_app(self) -> Flask:
        app = Flask("oauth-stub")

        @app.post("/oauth/token")
        def token():
            form = request.form
            client_id = form.get("client_id") or (request.authorization or {}).get("username", "")
            secret = form.get("client_secret") or (request.authorization or {}).get("password", "")
            self.requests.append(
                {
                    "grant_type": form.get("grant_type"),
                    "client_id": client_id,
                    "audience": form.get("audience"),
                    "scope": form.get("scope"),
                }
            )
            if form.get("grant_type") != "client_credentials":
                return jsonify(error="unsupported_grant_type"), 400
            if self.clients.get(client_id) != secret:
                return jsonify(error="invalid_client"), 401
            access_token = secrets.token_urlsafe(24)
            self.issued[access_token] = (client_id, time.monotonic() + self.expires_in)
            return jsonify(access_token=access_token, token_type="Bearer", expires_in=self.expires_in)

        @app.get("/userinfo")
        def userinfo():
            header = request.headers.get("Authorization", "")
            client = self.client_of(header.removeprefix("Bearer "))
            if not header.startswith("Bearer ") or client is None:
                return jsonify(error="invalid_token"), 401
            return jsonify(client_id=client)

        return app

    def start(self) -> OAuthTokenStub:
        self.server = serve_in_thread(self.create_app())
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()

    @property
    def token_url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/oauth/token"

    def client_of(self, token: str) -> str | None:
        """The client a still-valid token was issued to, or None."""
        client, expiry = self.issued.get(token, (None, 0.0))
        return client if client and time.monotonic() < expiry else None


@dataclass
class GatewayCall:
    method: str
    authorization: str | None
    allowed: bool


class _BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call whose bearer token the identity provider did not issue."""

    def __init__(self, is_valid: Callable[[str], bool], calls: list[GatewayCall]):
        self.is_valid = is_valid
        self.calls = calls

    async def intercept_service(self, continuation, handler_call_details):
        metadata = dict(handler_call_details.invocation_metadata or ())
        authorization = metadata.get("authorization")
        token = authorization.removeprefix("Bearer ") if authorization else ""
        allowed = bool(authorization and authorization.startswith("Bearer ") and self.is_valid(token))
        self.calls.append(GatewayCall(handler_call_details.method, authorization, allowed))
        if allowed:
            return await continuation(handler_call_details)

        async def deny(_request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")

        if handler_call_details.method in STREAMING_METHODS:

            async def deny_stream(_request, context):
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
                yield b""  # pragma: no cover - makes this an async generator

            return grpc.unary_stream_rpc_method_handler(deny_stream)
        return grpc.unary_unary_rpc_method_handler(deny)


class _Forwarder(grpc.GenericRpcHandler):
    """Sends each call on to the engine's gateway unchanged (raw bytes both ways)."""

    def __init__(self, upstream: grpc.aio.Channel):
        self.upstream = upstream

    def service(self, handler_call_details):
        method = handler_call_details.method
        if method in STREAMING_METHODS:

            async def stream(request: bytes, context):
                try:
                    async for response in self.upstream.unary_stream(method)(
                        request, timeout=context.time_remaining()
                    ):
                        yield response
                except grpc.aio.AioRpcError as exc:
                    await context.abort(exc.code(), exc.details() or "")

            return grpc.unary_stream_rpc_method_handler(stream)

        async def unary(request: bytes, context):
            try:
                return await self.upstream.unary_unary(method)(request, timeout=context.time_remaining())
            except grpc.aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "")

        return grpc.unary_unary_rpc_method_handler(unary)


class AuthenticatingGateway:
    """A gRPC gateway on its own thread and event loop; ``calls`` records what reached it."""

    def __init__(
        self,
        upstream_address: str,
        is_valid: Callable[[str], bool],
        *,
        server_credentials: grpc.ServerCredentials | None = None,
    ):
        self.upstream_address = upstream_address
        self.is_valid = is_valid
        self.server_credentials = server_credentials
        self.calls: list[GatewayCall] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="gateway-stub")
        self._server: grpc.aio.Server | None = None
        self._upstream: grpc.aio.Channel | None = None

    def start(self) -> AuthenticatingGateway:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._upstream = grpc.aio.insecure_channel(self.upstream_address)
        self._server = grpc.aio.server(interceptors=[_BearerTokenInterceptor(self.is_valid, self.calls)])
        self._server.add_generic_rpc_handlers([_Forwarder(self._upstream)])
        if self.server_credentials:
            self.port = self._server.add_secure_port("127.0.0.1:0", self.server_credentials)
        else:
            self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def _stop(self) -> None:
        if self._server:
            await self._server.stop(grace=1)
        if self._upstream:
            await self._upstream.close()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def allowed(self) -> list[GatewayCall]:
        return [c for c in self.calls if c.allowed]

    def denied(self) -> list[GatewayCall]:
        return [c for c in self.calls if not c.allowed]
