"""The JWKS verifier against a real HTTP JWKS endpoint (the test issuer serves one)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from chassis.auth import JwksVerifier, Unauthorized, claimed_subject
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


def signed(token_issuer: TestTokenIssuer, claims: object, alg: str = "EdDSA") -> str:
    """A token the issuer's key really signs, with exactly `claims` (plus iss and aud when
    `claims` is an object): what a careless issuer could produce."""
    if isinstance(claims, dict):
        claims = {"iss": token_issuer.issuer, "aud": token_issuer.audience, **claims}
    header = {"alg": alg, "kid": token_issuer.kid, "typ": "JWT"}
    key = token_issuer.key
    signing_input = f"{part(header)}.{part(claims)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


def tampered(token_issuer: TestTokenIssuer) -> str:
    """A real token whose claims were changed after signing (another subject)."""
    head, claims, signature = token_issuer.token("m-1").split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=="))
    return f"{head}.{part({**decoded, 'sub': 'm-2'})}.{signature}"


def part(obj: object) -> str:
    return b64(json.dumps(obj).encode())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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
        (lambda t: "only.two", "malformed"),
        (lambda t: f"{b64(b'[' * 3000)}.e30.AA", "malformed"),
        (lambda t: signed(t, {"sub": "m-1"}), "exp"),
        (lambda t: signed(t, {"exp": time.time() + 60}), "sub"),
        (lambda t: signed(t, {"sub": "m-1", "exp": "tomorrow"}), "numbers"),
        (
            lambda t: signed(t, {"sub": "m-1", "exp": time.time() + 600, "nbf": time.time() + 300}),
            "not valid yet",
        ),
        (
            lambda t: signed(t, {"sub": "m-1", "exp": time.time() + 600, "iat": time.time() + 300}),
            "not valid yet",
        ),
        (lambda t: signed(t, {"sub": "m-1", "exp": time.time() + 60, "roles": "admin"}), "roles"),
        (lambda t: signed(t, ["not", "an", "object"]), "malformed"),
        (tampered, "signature"),
        (lambda t: signed(t, {"sub": "m-1", "exp": time.time() + 60}, alg="HS256"), "algorithm"),
    ],
    ids=[
        "expired",
        "audience",
        "issuer",
        "forged",
        "unknown-kid",
        "alg-none",
        "garbage",
        "two-parts",
        "nested-header",
        "no-exp",
        "no-sub",
        "exp-text",
        "nbf-future",
        "iat-future",
        "roles-text",
        "claims-list",
        "tampered",
        "alg-hs256",
    ],
)
async def test_bad_tokens_are_refused(
    verifier: JwksVerifier, token_issuer: TestTokenIssuer, make: object, reason: str
) -> None:
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(make(token_issuer))  # type: ignore[operator]
    assert caught.value.status == 401
    assert reason in caught.value.detail


class Jwks:
    """A JWKS endpoint whose key set a test can change (rotation), over real HTTP."""

    def __init__(self, *issuers: TestTokenIssuer) -> None:
        self.document: dict[str, object] = {}
        self.fetches = 0
        self.serve(*issuers)
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps(jwks.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def serve(self, *issuers: TestTokenIssuer) -> None:
        self.document = {"keys": [key for i in issuers for key in i.jwks["keys"]]}


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    endpoint = Jwks()
    yield endpoint
    endpoint.server.shutdown()


def verifier_for(jwks: Jwks, issuer: TestTokenIssuer, leeway: float = 5.0) -> JwksVerifier:
    return JwksVerifier(
        jwks.url,
        issuer=issuer.issuer,
        audience=issuer.audience,
        algorithms=["EdDSA"],
        min_refresh_seconds=0,
        leeway_seconds=leeway,
    )


async def test_a_verified_token_is_not_verified_again(
    jwks: Jwks, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = TestTokenIssuer()
    jwks.serve(issuer)
    verifier = verifier_for(jwks, issuer)
    decodes = 0
    real_verify = OKPAlgorithm.verify

    def counting_verify(*args: Any, **kwargs: Any) -> Any:  # one per signature checked
        nonlocal decodes
        decodes += 1
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(OKPAlgorithm, "verify", counting_verify)
    token = issuer.token("m-1", ["customer"])
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    assert decodes == 1
    await verifier.verify(issuer.token("m-2"))  # another token is checked in full
    assert decodes == 2


async def test_a_cached_token_is_refused_once_it_expires(jwks: Jwks) -> None:
    issuer = TestTokenIssuer()
    jwks.serve(issuer)
    verifier = verifier_for(jwks, issuer, leeway=0)
    await verifier.verify(issuer.token())  # the key is fetched first: no delay below
    token = issuer.token("m-1", expires_in=2)
    assert (await verifier.verify(token)).subject == "m-1"
    assert token in verifier._verified
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    await asyncio.sleep(exp - time.time() + 0.2)  # past `exp`: the cache must not answer
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)


async def test_rotation_fetches_the_new_key_and_drops_tokens_of_the_removed_one(
    jwks: Jwks,
) -> None:
    old, new = TestTokenIssuer(), TestTokenIssuer()
    jwks.serve(old)
    verifier = verifier_for(jwks, old)
    old_token = old.token("m-1")
    assert (await verifier.verify(old_token)).subject == "m-1"  # cached now
    jwks.serve(new)  # the old key is withdrawn
    fetches = jwks.fetches
    assert (await verifier.verify(new.token("m-2"))).subject == "m-2"  # unknown kid: refetch
    assert jwks.fetches == fetches + 1
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(old_token)


async def test_the_cache_is_bounded(jwks: Jwks) -> None:
    issuer = TestTokenIssuer()
    jwks.serve(issuer)
    verifier = JwksVerifier(
        jwks.url,
        issuer=issuer.issuer,
        audience=issuer.audience,
        algorithms=["EdDSA"],
        cache_size=3,
    )
    tokens = [issuer.token(f"m-{n}") for n in range(5)]
    for token in tokens:
        await verifier.verify(token)
    assert list(verifier._verified) == tokens[-3:]  # the least recently used went first


def test_claimed_subject_reads_the_claim_without_checking_anything(
    token_issuer: TestTokenIssuer,
) -> None:
    assert claimed_subject(token_issuer.token("m-7")) == "m-7"
    # Unsigned, or signed by nobody we know: the claim is read all the same (it grants nothing).
    assert claimed_subject(token_issuer.token("m-8", key=Ed25519PrivateKey.generate())) == "m-8"
    assert claimed_subject(unsigned(token_issuer)) is not None
    assert claimed_subject(f"{part({'alg': 'none'})}.{part({'sub': 'forged'})}.x") == "forged"
    nested = b64(b"[" * 3000)  # JSON nested 3,000 deep: a RecursionError to json.loads
    for token in (
        "",
        "a.b",
        "not.a.jwt",
        f"x.{part(['sub'])}.y",
        f"x.{part({'sub': 5})}.y",
        f"x.{nested}.y",
    ):
        assert claimed_subject(token) is None, token
    assert claimed_subject(f"x.{part({'sub': ''})}.y") is None
    assert claimed_subject("x.\u00e9\u00e9.y") is None  # not base64url
