"""The inbox's retention must outlive every topic's: the settings refuse a shorter one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chassis.settings import ServiceSettings


def test_an_inbox_window_shorter_than_a_topics_retention_is_refused() -> None:
    # 30 days: a dead letter could be replayed after its first replay's inbox row went.
    with pytest.raises(ValidationError, match="inbox_keep_days"):
        ServiceSettings(inbox_keep_days=30)
    assert ServiceSettings().inbox_keep_days == 31
