"""Email over SMTP (aiosmtplib): text with an HTML alternative, one connection per message."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from notification_service.channels.base import DeliveryError, Message

MESSAGE_ID_DOMAIN = "notification.commerce-suite.dev"


def build_email(message: Message, mail_from: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    # The delivery id travels along, so a bounce or a complaint can be traced to its row.
    email["Message-ID"] = make_msgid(idstring=message.delivery_id, domain=MESSAGE_ID_DOMAIN)
    email["X-Notification-Delivery"] = message.delivery_id
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


@dataclass(frozen=True)
class SmtpEmail:
    host: str
    port: int
    mail_from: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 10.0

    async def send(self, message: Message) -> None:
        try:
            await aiosmtplib.send(
                build_email(message, self.mail_from),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                timeout=self.timeout_seconds,
            )
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is the server's final word (unknown mailbox, refused sender); 4xx is "later".
            raise DeliveryError(
                f"SMTP {exc.code}: {exc.message}", permanent=500 <= exc.code < 600
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP unavailable: {type(exc).__name__}: {exc}") from exc
