"""Concurrent imports of the same users end in one user each (PostgreSQL: real races)."""

import json
import threading

import pytest
from django.db import connection

from accounts.imports.models import ImportJob
from accounts.imports.services import import_job_claim, import_job_create, import_job_run
from accounts.models import Membership, User
from consents.models import Consent, ConsentRecord
from events.models import Event
from harbourmaster.actors import Actor

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so nothing races",
    ),
    pytest.mark.django_db(transaction=True),
]
JOBS = 4
USERS = 30


def same_users_body() -> str:
    consent = [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z"}]
    rows = [{"email": f"reader{n}@example.org", "given_name": f"R{n}", "consents": consent} for n in range(USERS)]
    return "\n".join(json.dumps(row) for row in rows)


def test_concurrent_imports_of_the_same_users_end_in_one_user_each(world):
    acme = world.acme
    jobs = [
        import_job_create(
            actor=Actor.client(acme.backend),
            tenant=acme.tenant,
            client=acme.backend,
            format="jsonl",
            body=same_users_body(),
            rows_total=USERS,
        )
        for _ in range(JOBS)
    ]
    claims = [import_job_claim(job_id=job.pk) for job in jobs]
    barrier = threading.Barrier(JOBS)

    def run(job, claim) -> None:
        try:
            barrier.wait()
            import_job_run(job_id=job.pk, claim=claim)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in zip(jobs, claims, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    finished = ImportJob.all_tenants.filter(pk__in=[job.pk for job in jobs])
    assert sorted(finished.values_list("status", "rows_done", "rows_failed")) == [("done", USERS, 0)] * JOBS
    assert User.objects.filter(email__startswith="reader").count() == USERS
    assert Membership.all_tenants.filter(tenant=acme.tenant, user__email__startswith="reader").count() == USERS
    assert Consent.all_tenants.filter(purpose=acme.newsletter, user__email__startswith="reader").count() == USERS
    assert ConsentRecord.all_tenants.filter(channel="import").count() == USERS
    assert Event.all_tenants.filter(type="user.created").count() == USERS


def test_imports_of_the_same_users_in_opposite_orders_end_in_one_user_each(world):
    """Each batch holds its new users uncommitted until it ends: two batches taking the
    same users in opposite orders are the case that can deadlock (the batch PostgreSQL
    stops is redone). However they interleave, both end done and each user is made once."""
    acme = world.acme
    forward = same_users_body().split("\n")
    bodies = ["\n".join(forward), "\n".join(reversed(forward))]
    jobs = [
        import_job_create(
            actor=Actor.client(acme.backend),
            tenant=acme.tenant,
            client=acme.backend,
            format="jsonl",
            body=body,
            rows_total=USERS,
        )
        for body in bodies
    ]
    claims = [import_job_claim(job_id=job.pk) for job in jobs]
    barrier = threading.Barrier(len(jobs))
    failures = []

    def run(job, claim) -> None:
        try:
            barrier.wait()
            import_job_run(job_id=job.pk, claim=claim)
        except Exception as error:  # reported below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in zip(jobs, claims, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    finished = ImportJob.all_tenants.filter(pk__in=[job.pk for job in jobs])
    assert sorted(finished.values_list("status", "rows_done", "rows_failed")) == [("done", USERS, 0)] * 2
    assert User.objects.filter(email__startswith="reader").count() == USERS
    assert Consent.all_tenants.filter(purpose=acme.newsletter, user__email__startswith="reader").count() == USERS
    assert ConsentRecord.all_tenants.filter(channel="import").count() == USERS
