"""When the operators hear about dead letters (domain.dead_letters), and what they read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notification_service.domain.dead_letters import Told, dead_letters_to_tell
from notification_service.domain.templates import Category, Template
from notification_service.service.rendering import Renderer

NOW = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
QUIET = timedelta(minutes=15)


def test_the_first_dead_letters_are_told_at_once() -> None:
    assert dead_letters_to_tell(3, None, NOW, QUIET) == 3
    assert dead_letters_to_tell(0, None, NOW, QUIET) == 0


def test_nothing_new_nothing_told() -> None:
    assert dead_letters_to_tell(3, Told(3, NOW - timedelta(days=1)), NOW, QUIET) == 0


def test_within_the_quiet_period_news_waits_then_counts_all_that_arrived() -> None:
    told = Told(3, NOW - timedelta(minutes=5))
    assert dead_letters_to_tell(10, told, NOW, QUIET) == 0
    assert dead_letters_to_tell(10, told, NOW + timedelta(minutes=10), QUIET) == 7


def test_a_topic_created_again_counts_from_zero() -> None:
    assert dead_letters_to_tell(2, Told(40, NOW - timedelta(hours=1)), NOW, QUIET) == 2


def test_no_quiet_period_tells_every_round() -> None:
    assert dead_letters_to_tell(4, Told(3, NOW), NOW, timedelta(0)) == 1


def test_dead_letters_are_for_the_operators() -> None:
    assert Template.DEAD_LETTERS.category is Category.OPERATIONAL


@pytest.mark.parametrize(
    ("locale", "subject", "words"),
    [
        ("en", "Dead letters: 1 new on order.events.dlq",
         ["1 record of order.events could not be handled and was dead-lettered",
          "python -m chassis.dlq list --topic order.events", "--dry-run", "every 15 minutes"]),
        ("zh-CN", "死信：order.events.dlq 新增 1 条",
         ["order.events 中有 1 条记录无法处理", "自上次通知以来",
          "python -m chassis.dlq list --topic order.events", "每 15 分钟"]),
    ],
)  # fmt: skip
def test_the_email_says_how_many_where_and_what_to_run(
    locale: str, subject: str, words: list[str]
) -> None:
    out = Renderer().render(
        Template.DEAD_LETTERS,
        locale,
        {
            "topic": "order.events.dlq",
            "source_topic": "order.events",
            "count": 1,
            "held": 4,
            "since": NOW,
            "quiet_minutes": "15",
        },
    )
    assert out.subject == subject
    for word in words:
        assert word in out.text
