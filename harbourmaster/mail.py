"""The embedded default's mail backend: every message to the console and to var/outbox/."""

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.core.mail.backends.filebased import EmailBackend as FileBackend


class ConsoleAndFileBackend(BaseEmailBackend):
    def __init__(self, fail_silently=False, **kwargs):
        super().__init__(fail_silently=fail_silently)
        self._backends = [ConsoleBackend(fail_silently=fail_silently), FileBackend(fail_silently=fail_silently)]

    def send_messages(self, email_messages):
        sent = 0
        for backend in self._backends:
            sent = backend.send_messages(email_messages)
        return sent
