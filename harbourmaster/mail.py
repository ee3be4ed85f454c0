"""The embedded default's mail backend: every message to the console and to var/outbox/."""

import sys

from django.core.mail.backends.filebased import EmailBackend as FileBackend


class ConsoleAndFileBackend(FileBackend):
    """Django's file backend (one file per connection under ``file_path``), echoed to stdout."""

    def write_message(self, message):
        super().write_message(message)
        sys.stdout.buffer.write(message.message().as_bytes() + b"\n" + b"-" * 79 + b"\n")
        sys.stdout.flush()
