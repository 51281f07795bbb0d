"""Password hashes, signing keys, the JWKS, access tokens, and what production refuses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from chassis.forwarding import client_address
from membership_service.adapters.passwords import (
    hash_password,
    needs_rehash,
    verify_password,
    verify_unknown,
)
from membership_service.adapters.signing import KeyRing, SigningKey, thumbprint
from membership_service.config import DEV_ADMIN_PASSWORD, MembershipSettings

NOW = datetime(2025, 6, 1, tzinfo=UTC)


async def test_passwords_are_argon2id_at_the_owasp_minimum() -> None:
    hashed = await hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "correct horse" not in hashed
    assert await verify_password(hashed, "correct horse battery")
    assert not await verify_password(hashed, "correct horse battery!")
    assert not await verify_password("not a hash", "anything")
    assert not await verify_unknown("anything")
    assert not needs_rehash(hashed)
    weaker = "$argon2id$v=19$m=8192,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43
    assert needs_rehash(weaker)


def test_rfc8037_thumbprint() -> None:
    # RFC 8037 appendix A.1 and A.3: this private key's JWK thumbprint.
    d = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    key = Ed25519PrivateKey.from_private_bytes(d)
    assert thumbprint(key.public_key()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_signing_keys_round_trip_through_pkcs8_pem() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_pem(key.private_pem())
    assert again.kid == key.kid  # the id is the thumbprint: the same on every replica
    assert SigningKey.from_pem(key.private_pem(), "chosen").kid == "chosen"
    assert "PRIVATE KEY" in key.private_pem()


def test_only_ed25519_keys_sign() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="Ed25519"):
        SigningKey.from_pem(pem)


def test_jwks_publishes_the_public_keys_only() -> None:
    signer, previous = SigningKey.generate(), SigningKey.generate()
    document = KeyRing(signer, [previous, signer]).jwks()
    assert [k["kid"] for k in document["keys"]] == [signer.kid, previous.kid]
    for jwk in document["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )


def test_access_tokens_carry_the_claims_and_verify_with_the_jwk() -> None:
    ring = KeyRing(SigningKey.generate())
    token = ring.access_token(
        issuer="https://issuer",
        audience="suite",
        subject="m-1",
        roles=["customer"],
        ttl_seconds=900,
        now=NOW,
    )
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("EdDSA", ring.signer.kid)
    public = jwt.PyJWK(ring.jwks()["keys"][0])
    claims: dict[str, Any] = jwt.decode(
        token,
        public.key,
        algorithms=["EdDSA"],
        audience="suite",
        issuer="https://issuer",
        options={"verify_exp": False},
    )
    assert claims["sub"] == "m-1" and claims["roles"] == ["customer"]
    assert claims["exp"] - claims["iat"] == 900 and claims["iat"] == int(NOW.timestamp())
    assert len(claims["jti"]) == 32


PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "database_url": "postgresql+asyncpg://membership@db/membership",
    "jwt_issuer": "https://membership.example.com",
    "jwks_url": "https://membership.example.com/.well-known/jwks.json",
}


def test_production_refuses_the_development_defaults() -> None:
    with pytest.raises(ValidationError) as refused:
        MembershipSettings(**PRODUCTION)
    message = str(refused.value)
    assert "MEMBERSHIP_SIGNING_KEY_PEM" in message
    assert "BOOTSTRAP_ADMIN_PASSWORD is the development default" in message
    assert DEV_ADMIN_PASSWORD not in message


def test_production_starts_with_a_key_and_a_real_admin_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("BOOTSTRAP_ADMIN_PASSWORD", "a long production secret")
    monkeypatch.setenv("MEMBERSHIP_SIGNING_KEY_PEM", SigningKey.generate().private_pem())
    settings = MembershipSettings(**PRODUCTION)
    assert settings.bootstrap_admin_email == "ops@example.com"
    assert settings.signing_key_pem is not None
    assert "PRIVATE" not in repr(settings)  # secrets stay out of reprs (and logs)


def test_tier_settings_must_ascend() -> None:
    with pytest.raises(ValidationError):
        MembershipSettings(tier_silver_spend=600_000, tier_gold_spend=500_000)


def test_settings_read_their_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERSHIP_POINTS_PER_YUAN_OFF", "200")
    monkeypatch.setenv("MEMBERSHIP_TRUSTED_PROXIES", json.dumps(["10.0.0.1"]))
    settings = MembershipSettings()
    assert (settings.port, settings.points_per_yuan_off) == (8005, 200)
    assert settings.trusted_proxies == ["10.0.0.1"]
    assert settings.database_url == "sqlite+aiosqlite:///.data/membership.db"


@pytest.mark.parametrize(
    ("peer", "forwarded", "address"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a trusted proxy: ignored
        ("10.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # the left part is the client's
        ("10.0.0.1", "198.51.100.1, 10.0.0.1", "198.51.100.1"),
        ("10.0.0.1", "not-an-ip", "10.0.0.1"),
        ("10.0.0.1", None, "10.0.0.1"),
    ],
)
def test_client_address_behind_trusted_proxies(
    peer: str, forwarded: str | None, address: str
) -> None:
    assert client_address(peer, forwarded, ["10.0.0.1"]) == address
