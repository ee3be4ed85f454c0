"""Where a text message goes: the console and a file (embedded default) or an HTTP gateway.

A backend has one method, ``send(to, text)``. It raises ``SmsDeliveryFailed`` when the
message may go through on a later try (the task retries those) and ``SmsRejected`` when
it never will. Neither the text (it holds sign-in codes) nor the gateway token is ever
put in a log line or an exception message.
"""

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import requests
from django.conf import settings
from django.utils.module_loading import import_string


class SmsDeliveryFailed(Exception):
    """The message did not go out this time; try again later."""


class SmsRejected(Exception):
    """The gateway refused the message for good (bad number, bad request)."""


class SmsBackend(Protocol):
    def send(self, to: str, text: str) -> None: ...


class ConsoleAndFileBackend:
    """One file per message under ``SMS_OUTBOX_DIR``, echoed to stdout (development only)."""

    def __init__(self, outbox_dir: str | Path | None = None) -> None:
        self.outbox_dir = Path(outbox_dir or settings.SMS_OUTBOX_DIR)

    def send(self, to: str, text: str) -> None:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        body = f"To: {to}\n\n{text}\n"
        (self.outbox_dir / f"{stamp}-{uuid.uuid4().hex[:8]}.txt").write_text(body, encoding="utf-8")
        sys.stdout.write(body + "-" * 79 + "\n")
        sys.stdout.flush()


class HttpGatewayBackend:
    """POSTs ``{"to": ..., "text": ...}`` as JSON with a bearer token to ``SMS_GATEWAY_URL``.

    2xx is sent; 408, 429 and 5xx (and no answer at all) are worth another try; any other
    answer is a refusal that no retry will change.
    """

    RETRYABLE = frozenset({408, 429})

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float | None = None) -> None:
        self.url = url or settings.SMS_GATEWAY_URL
        self.token = token if token is not None else settings.SMS_GATEWAY_TOKEN
        self.timeout = timeout or settings.SMS_GATEWAY_TIMEOUT

    def send(self, to: str, text: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = requests.post(self.url, json={"to": to, "text": text}, headers=headers, timeout=self.timeout)
        except requests.RequestException as error:
            raise SmsDeliveryFailed(f"SMS gateway unreachable ({type(error).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status >= 500 or status in self.RETRYABLE:
            raise SmsDeliveryFailed(f"SMS gateway answered {status}")
        raise SmsRejected(f"SMS gateway refused the message ({status})")


class DisabledBackend:
    """``SMS_BACKEND=disabled``: no tenant is offered SMS codes, so nothing should get here;
    a message that does is refused for good, never printed."""

    def send(self, to: str, text: str) -> None:
        raise SmsRejected("text messages are disabled (SMS_BACKEND=disabled)")


BACKENDS = {
    "console": "accounts.sms.backends.ConsoleAndFileBackend",
    "disabled": "accounts.sms.backends.DisabledBackend",
    "http": "accounts.sms.backends.HttpGatewayBackend",
}


def sms_backend() -> SmsBackend:
    """The backend ``SMS_BACKEND`` names: ``console``, ``http`` or a dotted class path."""
    name = settings.SMS_BACKEND
    return import_string(BACKENDS.get(name, name))()


def sms_disabled() -> bool:
    """Whether ``SMS_BACKEND`` turns text messages off, by name or by class path."""
    name = settings.SMS_BACKEND
    return BACKENDS.get(name, name) == BACKENDS["disabled"]
