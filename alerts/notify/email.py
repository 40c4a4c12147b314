"""E-mail deliveries over SMTP (smtplib): plain text, UTF-8, to one or more addresses."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerts.errors import DeliveryError
from phare.settings import Settings


def recipients(target: str) -> list[str]:
    """Addresses of a route's target: separated by commas or semicolons."""
    return [a.strip() for a in target.replace(";", ",").split(",") if a.strip()]


def send(settings: Settings, target: str, subject: str, body: str, *,
         delivery_id: int, timeout: float) -> None:
    """Sends one e-mail; raises DeliveryError (permanent when every recipient is refused)."""
    to = recipients(target)
    if not to:
        raise DeliveryError("the route names no e-mail address", permanent=True)
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject.replace("\n", " ")[:250]
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid("phare-alert")
    message["X-Phare-Delivery"] = str(delivery_id)
    message.set_content(body, charset="utf-8")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"every recipient was refused: {', '.join(exc.recipients)}",
                            permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(
            f"SMTP {settings.smtp_host}:{settings.smtp_port}: {type(exc).__name__}: {exc}"
        ) from exc
