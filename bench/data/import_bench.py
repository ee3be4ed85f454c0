"""Measure the bulk import (issue 6) through the real API and a real Celery worker.

    BENCH_DATABASE=hm_bench_import REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/data/import_bench.py [--runs 3] [--rows 100000] [--existing 100000]
    .venv/bin/python bench/data/import_bench.py --profile 5000     # in-process, cProfile

Builds its own database (BENCH_DATABASE, dropped first): 10 tenants with two purposes
each (bench/data/generate.py), then ``--existing`` users that tenant t0 imported earlier
(external id, e-mail, a newsletter grant). Then, with gunicorn and a solo-pool Celery
worker on Redis (REDIS_URL):

- ``new``: ``--runs`` uploads of ``--rows`` new users with a newsletter grant;
- ``existing``: ``--runs`` uploads naming existing users by external id and e-mail, with a
  changed given name, the same newsletter grant (a repeat: recorded nothing) and a new
  postal-marketing grant.

users/s is rows over the worker's time (job started to finished); ``wall_s`` is from the
POST to the job done, including the upload's reading and storing. After each ``new`` run,
the same rows are COPYed straight into the tables and rolled back (``copy_floor_s``): the
database's share alone, the baseline the import is compared with in the same run.
JSON on stdout.
"""

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import secrets
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from common import CELERY_WORKER_COMMAND, DATABASE_URL, ROOT, django_setup, gunicorn_command, summary

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/7")
PORT = int(os.environ.get("BENCH_IMPORT_PORT", "8767"))
WHEN = "2026-01-15T10:00:00Z"


def server_env() -> dict:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DEBUG": "false",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }


def new_rows(tag: str, count: int) -> list[dict]:
    return [
        {
            "external_id": f"{tag}-{n}",
            "email": f"{tag}-{n}@example.org",
            "given_name": f"Given{n}",
            "family_name": f"Family{n % 5000}",
            "address_country": "DE",
            "consents": [{"purpose": "newsletter", "action": "grant", "occurred_at": WHEN}],
        }
        for n in range(count)
    ]


def existing_rows(count: int, run: int) -> list[dict]:
    """The population's users again: a changed name, the same grant, a new one."""
    return [
        {
            "external_id": f"pop-{n}",
            "email": f"pop-{n}@example.org",
            "given_name": f"Renamed{run}-{n}",
            "consents": [
                {"purpose": "newsletter", "action": "grant", "occurred_at": WHEN},
                {"purpose": "postal-marketing", "action": "grant", "occurred_at": f"2026-01-{16 + run}T10:00:00Z"},
            ],
        }
        for n in range(count)
    ]


def body_of(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


def setup(existing: int) -> None:
    from generate import database_create, tenants_create

    database_create()
    django_setup()
    tenants_create()
    if existing:
        began = time.perf_counter()
        job = job_run_here(body_of(new_rows("pop", existing)).decode())
        print(f"population: {existing} users imported in {time.perf_counter() - began:.1f}s ({job})", file=sys.stderr)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def t0():
    from tenants.models import Client, Tenant

    tenant = Tenant.objects.get(slug="t0")
    return tenant, Client.objects.get(tenant=tenant, name="t0 backend")


def job_run_here(body: str):
    """An import run in this process (no broker): for the population and the profile."""
    from accounts.imports.models import ImportJob
    from accounts.imports.services import import_job_claim, import_job_run
    from harbourmaster.actors import Actor

    tenant, client = t0()
    # Stored directly: import_job_create would also queue it.
    job = ImportJob.all_tenants.create(
        tenant=tenant, client=client, actor=str(Actor.client(client)), format="jsonl", body=body, rows_total=1
    )
    import_job_run(job_id=job.pk, claim=import_job_claim(job_id=job.pk))
    job = ImportJob.all_tenants.get(pk=job.pk)
    return job.status, job.rows_done, job.rows_failed


def token_issue() -> str:
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model

    raw = secrets.token_urlsafe(30)
    get_access_token_model().objects.create(
        application=t0()[1],
        user=None,
        token=raw,
        expires=timezone.now() + timedelta(hours=3),
        scope="users:read users:write consents:write",
    )
    return raw


def import_once(token: str, body: bytes, rows: int) -> dict:
    from accounts.imports.models import ImportJob

    began = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    conn.request("POST", "/api/v1/users/imports", body=body, headers=headers)
    response = conn.getresponse()
    job = json.loads(response.read())
    conn.close()
    assert response.status == 202, job
    while (current := ImportJob.all_tenants.get(uuid=job["id"])).status not in ("done", "failed"):
        time.sleep(0.2)
    wall = time.perf_counter() - began
    worked = (current.finished_at - current.started_at).total_seconds()
    load = os.getloadavg()[0]
    return {
        "rows": rows,
        "done": current.rows_done,
        "failed": current.rows_failed,
        "wall_s": round(wall, 2),
        "worker_s": round(worked, 2),
        "users_per_s": round(rows / worked),
        "load1": load,
    }


def copy_floor(count: int) -> float:
    """The database's part alone: the same rows an import of ``count`` new users with a
    grant writes (users, memberships, proof records, consents, two events each), COPYed
    straight from text in one transaction with its foreign keys checked, then rolled back."""
    import psycopg

    from consents.models import Purpose

    tenant, client = t0()
    purpose = Purpose.all_tenants.get(tenant=tenant, slug="newsletter")
    version = purpose.versions.get()
    stamp, tag = "2026-01-15 10:00:00+00", f"floor{int(time.time())}"
    with psycopg.connect(DATABASE_URL) as conn:
        began = time.perf_counter()
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('accounts_user', 'id')) FROM generate_series(1, %s)", [count]
            )
        ]
        uuids = [str(uuid.uuid4()) for _ in ids]
        tables = {
            "accounts_user (id, uuid, password, email, kind, is_superuser, email_verified, phone_number_verified, "
            "given_name, family_name, middle_name, nickname, preferred_username, gender, zoneinfo, locale, picture, "
            "website, profile, address_street, address_locality, address_region, address_postal_code, "
            "address_country, is_staff, is_active, date_joined, updated_at, merged_by, session_generation)": (
                f"{i}\t{u}\t!x\t{tag}-{n}@example.org\tregistered\tf\tf\tf\tGiven{n}\tFamily{n % 5000}"
                f"\t\t\t\t\t\t\t\t\t\t\t\t\t\tDE\tf\tt\t{stamp}\t{stamp}\t\t0\n"
                for n, (i, u) in enumerate(zip(ids, uuids, strict=True))
            ),
            "accounts_membership (tenant_id, user_id, external_id, source, created_at)": (
                f"{tenant.pk}\t{i}\t{tag}-{n}\tapi\t{stamp}\n" for n, i in enumerate(ids)
            ),
            "consents_consentrecord (tenant_id, user_id, purpose_id, version_id, statement_hash, action, channel, "
            "source, client_id, actor, user_agent, occurred_at, recorded_at)": (
                f"{tenant.pk}\t{i}\t{purpose.pk}\t{version.pk}\t{version.statement_hash}\tgrant\timport\t\t"
                f"{client.pk}\tclient\t\t{stamp}\t{stamp}\n"
                for i in ids
            ),
            "consents_consent (tenant_id, user_id, purpose_id, state, version_id, granted_at, updated_at)": (
                f"{tenant.pk}\t{i}\t{purpose.pk}\tgranted\t{version.pk}\t{stamp}\t{stamp}\n" for i in ids
            ),
            "events_event (uuid, tenant_id, type, subject, payload, actor, created_at)": (
                f'{uuid.uuid4()}\t{tenant.pk}\t{kind}\t{u}\t{{"user": "{u}"}}\tclient\t{stamp}\n'
                for u in uuids
                for kind in ("user.created", "consent.granted")
            ),
        }
        for table, lines in tables.items():
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                copy.write("".join(lines))
        elapsed = time.perf_counter() - began
        conn.rollback()
    return elapsed


def servers() -> tuple[subprocess.Popen, subprocess.Popen]:
    return (
        subprocess.Popen(gunicorn_command(PORT), cwd=ROOT, env=server_env()),
        subprocess.Popen(CELERY_WORKER_COMMAND, cwd=ROOT, env=server_env(), stdout=sys.stderr),
    )


def profile(rows: int) -> None:
    django_setup()
    body = body_of(new_rows(f"prof{int(time.time())}", rows)).decode()
    profiler = cProfile.Profile()
    profiler.enable()
    outcome = job_run_here(body)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
    print(outcome, out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=100_000)
    parser.add_argument("--existing-rows", type=int, default=None, help="rows of an existing-users run")
    parser.add_argument("--profile", type=int, default=0, help="only profile an in-process import of N new users")
    args = parser.parse_args()
    if args.profile:
        return profile(args.profile)
    setup(args.existing)
    token = token_issue()
    gunicorn, worker = servers()
    results: dict = {"uptime_before": os.getloadavg()}
    try:
        time.sleep(4)
        results["new"], results["copy_floor_s"] = [], []
        for run in range(args.runs):
            results["new"].append(import_once(token, body_of(new_rows(f"run{run}", args.rows)), args.rows))
            results["copy_floor_s"].append(round(copy_floor(args.rows), 2))
        count = min(args.existing_rows or args.rows, args.existing)
        if count:
            results["existing"] = [
                import_once(token, body_of(existing_rows(count, run)), count) for run in range(args.runs)
            ]
    finally:
        for process in (worker, gunicorn):
            process.terminate()
            process.wait(30)
    for kind in ("new", "existing"):
        if results.get(kind):
            results[f"{kind}_users_per_s_median"] = summary([run["users_per_s"] for run in results[kind]])["median"]
    if results.get("copy_floor_s"):
        floor = summary(results["copy_floor_s"])["median"]
        results["copy_floor_users_per_s_median"] = round(args.rows / floor)
        results["new_vs_copy_floor"] = round(
            results["new_users_per_s_median"] / results["copy_floor_users_per_s_median"], 2
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
