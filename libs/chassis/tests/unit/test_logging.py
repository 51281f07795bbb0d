from __future__ import annotations

import json
import logging

import pytest

from chassis.logging import REDACTED, configure_logging, get_logger, mask_email, redact


def test_secret_keys_are_redacted_and_emails_masked() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "login by alice@example.com",
            "password": "hunter2",
            "refresh_token": "abc",
            "headers": {"Authorization": "Bearer eyJhbGciOi.x.y", "accept": "json"},
            "payment_token": "tok_visa",
            "note": "sent Bearer eyJabc.def.ghi to bob@corp.cn",
        },
    )
    assert event["password"] == REDACTED
    assert event["refresh_token"] == REDACTED
    assert event["payment_token"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "accept": "json"}
    assert event["event"] == "login by a***@example.com"
    assert "eyJabc" not in event["note"] and "b***@corp.cn" in event["note"]


def test_mask_email_keeps_domain_only() -> None:
    assert mask_email("zhang.wei@shop.com.cn") == "z***@shop.com.cn"


def test_json_lines_carry_service_and_never_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("catalog", "INFO", as_json=True)
    get_logger("t").info("member registered", email="carol@example.org", password="s3cret")
    logging.getLogger("stdlib").warning("plain %s", "carol@example.org")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert lines[0]["service"] == "catalog"
    assert lines[0]["email"] == "c***@example.org"
    assert lines[0]["password"] == REDACTED
    assert "s3cret" not in json.dumps(lines)
    assert lines[1]["event"] == "plain c***@example.org"


def test_an_exceptions_text_is_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("order", "INFO", as_json=True)
    try:
        raise ValueError("no member dave@example.org for Bearer eyJhbGciOi.secret.sig")
    except ValueError:
        get_logger("t").exception("lookup failed")
        logging.getLogger("stdlib").exception("lookup failed")
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line]
    assert len(lines) == 2 and all("ValueError" in line["exception"] for line in lines)
    assert "dave@example.org" not in out and "d***@example.org" in out
    assert "eyJhbGciOi" not in out
