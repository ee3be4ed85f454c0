"""Two creates of one unique value at once, made to meet the same way every time.

The first create inserts and holds its transaction open; the request under test is sent
while it is open and checks that the value is free (it is, as far as it can see); its
INSERT then waits on the unique index. Only once PostgreSQL shows it waiting is the first
create committed, so the request loses the race on the index, not on its check.
"""

import threading
import time
from collections.abc import Callable

from django.db import connection, transaction


def _a_backend_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _wait_for_a_lock_wait(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not _a_backend_waits_on_a_lock():
        assert time.monotonic() < deadline, "the request never waited on the first create's insert"
        time.sleep(0.02)


def answer_while_a_create_commits_late(create: Callable[[], object], request: Callable[[], object]) -> object:
    """What ``request`` answers when ``create`` of the same value commits while it waits."""
    inserted, release, answers = threading.Event(), threading.Event(), []

    def hold() -> None:
        try:
            with transaction.atomic():
                create()
                inserted.set()
                release.wait(15)
        finally:
            connection.close()

    def send() -> None:
        try:
            answers.append(request())
        finally:
            connection.close()

    holder, sender = threading.Thread(target=hold), threading.Thread(target=send)
    holder.start()
    try:
        assert inserted.wait(10), "the first create did not insert"
        sender.start()
        _wait_for_a_lock_wait()
    finally:
        release.set()
        holder.join()
        if sender.ident is not None:
            sender.join()
    return answers[0]
