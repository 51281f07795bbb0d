"""The inbox's retention must outlive every topic's: the settings refuse a shorter one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chassis.settings import ServiceSettings


def test_an_inbox_window_shorter_than_a_topics_retention_is_refused() -> None:
    # Under 31 days a dead letter replayed late could find its first replay's inbox row gone
    # (the consumer allows a day's margin); an endless window would overflow date arithmetic.
    for days in (30, 30.5, 3651, float("inf")):
        with pytest.raises(ValidationError, match="inbox_keep_days"):
            ServiceSettings(inbox_keep_days=days)
    assert ServiceSettings().inbox_keep_days == 31
