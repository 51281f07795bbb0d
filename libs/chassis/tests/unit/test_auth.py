"""The JWKS verifier against a real HTTP JWKS endpoint (the test issuer serves one)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.auth import JwksVerifier, Unauthorized
from chassis.testing.tokens import TestTokenIssuer


@pytest.fixture
def verifier(token_issuer: TestTokenIssuer) -> JwksVerifier:
    return JwksVerifier(
        token_issuer.jwks_url,  # type: ignore[attr-defined]
        issuer=token_issuer.issuer,
        audience=token_issuer.audience,
        algorithms=["EdDSA"],
        min_refresh_seconds=0,
    )


async def test_valid_token_gives_subject_and_roles(
    verifier: JwksVerifier, token_issuer: TestTokenIssuer
) -> None:
    principal = await verifier.verify(token_issuer.token("m-1", ["customer", "admin"]))
    assert principal.subject == "m-1"
    assert principal.is_admin


def unsigned(token_issuer: TestTokenIssuer) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = json.loads(base64.urlsafe_b64decode(token_issuer.token().split(".")[1] + "=="))
    return f"{part({'alg': 'none', 'kid': token_issuer.kid})}.{part(claims)}."


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda t: t.token(expires_in=-60), "expired"),
        (lambda t: t.token(audience="someone-else"), "audience"),
        (lambda t: t.token(issuer="https://evil.example"), "issuer"),
        (lambda t: t.token(key=Ed25519PrivateKey.generate()), "signature"),
        (lambda t: t.token(kid="unknown-kid"), "unknown key"),
        (unsigned, "algorithm"),
        (lambda t: "not.a.jwt", "malformed"),
    ],
    ids=["expired", "audience", "issuer", "forged", "unknown-kid", "alg-none", "garbage"],
)
async def test_bad_tokens_are_refused(
    verifier: JwksVerifier, token_issuer: TestTokenIssuer, make: object, reason: str
) -> None:
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(make(token_issuer))  # type: ignore[operator]
    assert caught.value.status == 401
