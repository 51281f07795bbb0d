from __future__ import annotations

import hashlib
import hmac

from notification_service.domain.signing import (
    compute_signature,
    new_secret,
    parse_header,
    signature_header,
    verify,
)

SECRET = "whsec_test"
BODY = b'{"id":"1","type":"order.order.confirmed"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, 1_700_000_000, BODY) == expected
    assert signature_header(SECRET, 1_700_000_000, BODY) == f"t=1700000000,v1={expected}"


def test_known_vector() -> None:
    # Computed independently: printf '1.{}' | openssl dgst -sha256 -hmac key
    assert compute_signature("key", 1, b"{}") == hmac.new(b"key", b"1.{}", "sha256").hexdigest()


def test_verify_accepts_the_right_secret_within_tolerance() -> None:
    header = signature_header(SECRET, 1_000, BODY)
    assert verify(SECRET, BODY, header, now=1_000)
    assert verify(SECRET, BODY, header, now=1_299)
    assert not verify(SECRET, BODY, header, now=1_301)  # replayed too late
    assert not verify(SECRET, BODY, header, now=600)  # from the future
    assert not verify("whsec_other", BODY, header, now=1_000)
    assert not verify(SECRET, BODY + b" ", header, now=1_000)  # body tampered with
    assert not verify(SECRET, BODY, "v1=abc", now=1_000)  # no timestamp
    assert not verify(SECRET, BODY, "garbage", now=1_000)


def test_verify_accepts_any_of_several_signatures() -> None:
    good = compute_signature(SECRET, 5, BODY)
    assert verify(SECRET, BODY, f"t=5,v1=deadbeef,v1={good}", now=5)
    assert parse_header(f"t=5, v1=deadbeef, v0=x, v1={good}") == (5, ["deadbeef", good])


def test_secrets_are_long_and_distinct() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(s.startswith("whsec_") and len(s) >= 40 for s in secrets)
