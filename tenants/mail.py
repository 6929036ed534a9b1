"""Account e-mails: sign-up links, "this address has an account", invitations.

One template per e-mail under templates/accounts/email/, its first line the subject. Sent
through Django's mail backend: SMTP in production (EMAIL_* settings), the console in the
embedded default, local memory in tests.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.mail import send_mail
from django.template.loader import render_to_string

from aitrader.errors import ServiceError

logger = logging.getLogger(__name__)


class MailNotSent(ServiceError):
    """The mail server did not take the message."""

    status_code = 503
    code = "mail_unavailable"


def send_account_email(*, to: str, template: str, context: dict[str, Any]) -> None:
    """Render accounts/email/<template>.txt and send it to `to`; raises MailNotSent when the
    mail server refuses or cannot be reached (logged without the body, which may hold a link
    that works as a credential)."""
    subject, _, body = render_to_string(f"accounts/email/{template}.txt", context).partition("\n")
    try:
        send_mail(subject.strip(), body.lstrip("\n"), None, [to])
    except OSError as error:  # smtplib's errors, refused connections and timeouts alike
        logger.error("account e-mail %r not sent: %s", template, error.__class__.__name__)
        raise MailNotSent("We could not send e-mail just now; try again in a few minutes.") \
            from None
