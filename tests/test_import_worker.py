"""An import goes through the real broker to a real Celery worker and completes.

The worker is a separate process (``celery -A harbourmaster worker --pool=solo``) on the
test database, so the test commits for real (transactional_db) for the worker to see it.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from consents.models import ConsentRecord
from events.models import Event
from harbourmaster.celery import app as celery_app
from tests.api.conftest import api_as, issue_token  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL")

pytestmark = [
    pytest.mark.skipif(not REDIS_URL, reason="needs a Redis broker (REDIS_URL); CI sets it"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.real_broker,
]


def test_database_url() -> str:
    if connection.vendor != "postgresql":
        pytest.fail("a worker process cannot see an in-memory SQLite test database: set DATABASE_URL too")
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{settings.DATABASES['default']['NAME']}"))


test_database_url.__test__ = False  # a helper, not a test


@pytest.fixture
def worker():
    env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")}
    env |= {"DATABASE_URL": test_database_url(), "REDIS_URL": REDIS_URL, "CELERY_TASK_ALWAYS_EAGER": "false"}
    command = [sys.executable, "-m", "celery", "-A", "harbourmaster", "worker", "--pool=solo", "-c", "1", "-l", "info"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        print(output)  # shown when the test fails


def test_an_import_completes_through_the_broker_and_a_real_worker(world, api_as, worker):  # noqa: F811
    assert not celery_app.conf.task_always_eager, "the task must go through the broker"
    api = api_as(world.acme.backend, ["users:write", "consents:write"])
    rows = [
        f'{{"email": "reader{n}@example.org", "consents": [{{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z"}}]}}'
        for n in range(20)
    ]
    response = api.post("/api/v1/users/imports", data="\n".join(rows).encode(), content_type="application/x-ndjson")
    assert response.status_code == 202, response.content
    deadline, job = time.monotonic() + 60, {}
    while time.monotonic() < deadline and job.get("status") != "done":
        assert worker.poll() is None, "the worker died"
        time.sleep(0.25)
        job = api.get(response["Location"]).json()
    assert (job["status"], job["rows_total"], job["rows_done"], job["rows_failed"]) == ("done", 20, 20, 0)
    assert User.objects.filter(email__startswith="reader").count() == 20
    assert ConsentRecord.all_tenants.filter(channel="import", client=world.acme.backend).count() == 20


def test_a_reimport_updates_existing_users_through_a_real_worker(world, api_as, worker):  # noqa: F811
    api = api_as(world.acme.backend, ["users:write", "consents:write"])

    def imported(rows: list[str]) -> dict:
        response = api.post("/api/v1/users/imports", data="\n".join(rows).encode(), content_type="application/x-ndjson")
        assert response.status_code == 202, response.content
        deadline, job = time.monotonic() + 60, {}
        while time.monotonic() < deadline and job.get("status") != "done":
            assert worker.poll() is None, "the worker died"
            time.sleep(0.25)
            job = api.get(response["Location"]).json()
        return job

    imported([f'{{"external_id": "R-{n}", "email": "r{n}@example.org"}}' for n in range(20)])
    grant = '{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z"}'
    job = imported([f'{{"external_id": "R-{n}", "given_name": "R{n}", "consents": [{grant}]}}' for n in range(20)])
    assert (job["status"], job["rows_done"], job["rows_failed"]) == ("done", 20, 0)
    assert User.objects.filter(email__startswith="r", given_name__startswith="R").count() == 20
    assert Event.all_tenants.filter(type="user.updated", tenant=world.acme.tenant).count() == 20
    assert ConsentRecord.all_tenants.filter(channel="import", client=world.acme.backend).count() == 20
