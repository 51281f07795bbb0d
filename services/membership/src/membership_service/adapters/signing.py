"""Ed25519 signing keys, their JWKS and the access tokens they sign (EdDSA, RFC 8037)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_x(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _b64url(raw)


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: the same key gets the same `kid` on every replica."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _public_x(public_key)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        key = Ed25519PrivateKey.generate()
        return cls(thumbprint(key.public_key()), key)

    @classmethod
    def from_pem(cls, pem: str, kid: str | None = None) -> SigningKey:
        """A PKCS8 PEM of an Ed25519 private key (`openssl genpkey -algorithm ed25519`)."""
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key must be an Ed25519 private key")
        return cls(kid or thumbprint(key.public_key()), key)

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _public_x(self.private_key.public_key()),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The key that signs, and every public key still published (the signer's first)."""

    signer: SigningKey
    verifiers: Sequence[SigningKey] = ()

    def jwks(self) -> dict[str, Any]:
        keys, seen = [], set()
        for key in (self.signer, *self.verifiers):
            if key.kid not in seen:
                seen.add(key.kid)
                keys.append(key.public_jwk())
        return {"keys": keys}

    def access_token(
        self,
        *,
        issuer: str,
        audience: str,
        subject: str,
        roles: list[str],
        ttl_seconds: int,
        now: datetime,
    ) -> str:
        issued = int(now.timestamp())
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": subject,
            "roles": roles,
            "iat": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            claims, self.signer.private_key, algorithm=ALGORITHM, headers={"kid": self.signer.kid}
        )
