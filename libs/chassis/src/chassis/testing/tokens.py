"""A test token issuer: an Ed25519 key, its JWKS served over real HTTP, and signed tokens."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from chassis.settings import DEV_JWT_AUDIENCE, DEV_JWT_ISSUER


def bearer(token: str) -> dict[str, str]:
    """The headers that present `token` to a service."""
    return {"Authorization": f"Bearer {token}"}


class TestTokenIssuer:
    """Signs tokens the way membership will; for tests only (the key lives in memory)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        issuer: str = DEV_JWT_ISSUER,
        audience: str = DEV_JWT_AUDIENCE,
        key: Ed25519PrivateKey | None = None,
        kid: str | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = kid or uuid.uuid4().hex[:12]
        self.key = key or Ed25519PrivateKey.generate()
        public = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}
        self._server: ThreadingHTTPServer | None = None

    def token(
        self,
        subject: str | None = None,
        roles: list[str] | None = None,
        *,
        expires_in: int = 300,
        audience: str | None = None,
        issuer: str | None = None,
        key: Ed25519PrivateKey | None = None,
        kid: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject or str(uuid.uuid4()),
            "roles": roles if roles is not None else ["customer"],
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "iat": now,
            "exp": now + expires_in,
        }
        return jwt.encode(
            claims, key or self.key, algorithm="EdDSA", headers={"kid": kid or self.kid}
        )

    def admin_token(self) -> str:
        return self.token(roles=["admin"])

    def serve_jwks(self, port: int = 0) -> str:
        """Serve the JWKS (and /healthz, /readyz) on a loopback port (0: a free one)."""
        body = json.dumps(self.jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def close(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
