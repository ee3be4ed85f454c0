"""Measure export (JSON Lines and CSV), raw COPY, access-record step, lookups and bulk import
on hm_bench_data.

    .venv/bin/python bench/data/measure.py [--runs 3] [--import-rows 50000]

Starts gunicorn (2 workers) and, for the import, a Celery worker on Redis (REDIS_URL,
default redis://127.0.0.1:6379/8); prints one JSON document of results.
"""

import argparse
import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from common import DATABASE_URL, ROOT, django_setup, summary

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
PORT = 8765
django_setup(REDIS_URL=REDIS_URL)

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import get_access_token_model  # noqa: E402

from accounts.imports.models import ImportJob  # noqa: E402
from accounts.selectors import users_visible_for_purpose  # noqa: E402
from audit.services import access_record_for_query  # noqa: E402
from consents.models import Purpose  # noqa: E402
from tenants.models import Client, Tenant  # noqa: E402

FIELDS = ("uuid", "email", "email_verified")


def server_env() -> dict:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DEBUG": "false",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }


def token_issue(client: Client) -> str:
    raw = secrets.token_urlsafe(30)
    get_access_token_model().objects.create(
        application=client,
        user=None,
        token=raw,
        expires=timezone.now() + timedelta(hours=3),
        scope="users:read users:write consents:write",
    )
    return raw


def rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def request(token: str, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
    conn.request(method, path, body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    return conn, conn.getresponse()


def export_once(token: str, format_name: str = "jsonl") -> tuple[float, int]:
    began = time.perf_counter()
    conn, response = request(token, "GET", f"/api/v1/purposes/newsletter/users?format={format_name}")
    assert response.status == 200, response.read()[:500]
    lines = 0
    while chunk := response.read(1 << 20):
        lines += chunk.count(b"\n")
    conn.close()
    return time.perf_counter() - began, lines


def copy_once(purpose: Purpose) -> tuple[float, int]:
    query = users_visible_for_purpose(purpose=purpose).order_by("id").values(*FIELDS)
    sql, params = query.query.sql_with_params()
    began, rows = time.perf_counter(), 0
    with (
        psycopg.connect(DATABASE_URL) as conn,
        conn.cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy,
    ):
        for block in copy:
            rows += bytes(block).count(b"\n")
    return time.perf_counter() - began, rows


def record_once(tenant: Tenant, client: Client, purpose: Purpose) -> float:
    began = time.perf_counter()
    access_record_for_query(
        tenant=tenant,
        client=client,
        purpose=purpose.slug,
        action="users.export",
        fields=list(FIELDS),
        user_ids=users_visible_for_purpose(purpose=purpose).values_list("id", flat=True),
        request_id="bench",
    )
    return time.perf_counter() - began


def lookups(token: str, purpose: Purpose, runs_single: int, runs_batch: int) -> dict:
    """Users who consent to the purpose, picked at random: the lookups find them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.uuid, u.email FROM accounts_user u JOIN consents_consent c ON c.user_id = u.id "
            "WHERE c.purpose_id = %s ORDER BY random() LIMIT 2000",
            [purpose.pk],
        )
        users = cursor.fetchall()
    single = []
    for uuid, _ in users[:runs_single]:
        began = time.perf_counter()
        conn, response = request(token, "GET", f"/api/v1/users/{uuid}?purpose=newsletter")
        response.read()
        conn.close()
        assert response.status == 200
        single.append((time.perf_counter() - began) * 1000)
    batch = []
    for run in range(runs_batch):
        identifiers = [{"email": email} for _, email in users[run * 37 % 1000 :][:1000]]
        body = json.dumps({"purpose": "newsletter", "identifiers": identifiers}).encode()
        began = time.perf_counter()
        conn, response = request(token, "POST", "/api/v1/users/lookup", body)
        payload = json.loads(response.read())
        conn.close()
        assert response.status == 200, payload
        batch.append((time.perf_counter() - began) * 1000)
    return {"single_ms": summary(single), "batch_1000_ms": summary(batch), "batch_found": len(payload["results"])}


def import_once(token: str, rows: int, run: int) -> dict:
    # New users on every invocation: rows naming users of an earlier run would be updates.
    tag = f"{int(time.time()) % 10**7}-{run}"
    lines = (
        json.dumps(
            {
                "external_id": f"imp{tag}-{n}",
                "email": f"imp{tag}-{n}@example.org",
                "given_name": f"I{n}",
                "consents": [{"purpose": "newsletter", "action": "grant", "occurred_at": "2026-01-15T10:00:00Z"}],
            }
        )
        for n in range(rows)
    )
    body = "\n".join(lines).encode()
    began = time.perf_counter()
    conn, response = request(token, "POST", "/api/v1/users/imports", body, "application/x-ndjson")
    job = json.loads(response.read())
    conn.close()
    assert response.status == 202, job
    while (current := ImportJob.all_tenants.get(uuid=job["id"])).status not in ("done", "failed"):
        time.sleep(0.5)
    wall = time.perf_counter() - began
    worked = (current.finished_at - current.started_at).total_seconds()
    return {
        "rows": rows,
        "failed": current.rows_failed,
        "wall_s": wall,
        "worker_s": worked,
        "users_per_s": rows / worked,
    }


def celery_worker() -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "harbourmaster",
        "worker",
        "--pool=solo",
        "-c",
        "1",
        "-l",
        "warning",
    ]
    # Its banner goes to stderr: stdout carries the JSON document.
    return subprocess.Popen(command, cwd=ROOT, env=server_env(), stdout=sys.stderr)


def gunicorn_server() -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "harbourmaster.wsgi", "-w", "2", "-b", f"127.0.0.1:{PORT}"]
    return subprocess.Popen([*command, "--timeout", "600", "--log-level", "warning"], cwd=ROOT, env=server_env())


def exports_measure(token: str, tenant: Tenant, client: Client, purpose: Purpose, runs: int) -> dict:
    exports, csv_exports, copies, records = [], [], [], []
    for _ in range(runs):
        exports.append(export_once(token))
        csv_exports.append(export_once(token, "csv"))
        copies.append(copy_once(purpose))
        records.append(record_once(tenant, client, purpose))
    export, csv_export, copy = (summary([s for s, _ in runs]) for runs in (exports, csv_exports, copies))
    results = {
        "export": {"rows": exports[0][1], "seconds": export, "users_per_s": exports[0][1] / export["median"]},
        # less the header line
        "export_csv": {"rows": csv_exports[0][1] - 1, "seconds": csv_export},
        "copy": {"rows": copies[0][1], "seconds": copy, "rows_per_s": copies[0][1] / copy["median"]},
        "record_step_s": summary(records),
    }
    results["export_csv"]["users_per_s"] = results["export_csv"]["rows"] / csv_export["median"]
    results["ratio_export_to_copy"] = results["export"]["users_per_s"] / results["copy"]["rows_per_s"]
    results["ratio_csv_export_to_copy"] = results["export_csv"]["users_per_s"] / results["copy"]["rows_per_s"]
    results["record_share_of_export"] = results["record_step_s"]["median"] / export["median"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--import-rows", type=int, default=50_000)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-export", action="store_true", help="no exports, COPY, record step or lookups")
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug="t0")
    client = Client.objects.get(tenant=tenant, name="t0 backend")
    purpose = Purpose.all_tenants.get(tenant=tenant, slug="newsletter")
    token = token_issue(client)
    # The worker runs throughout, as in production: it also merges each recorded
    # stream's subjects into their index after the export (audit.tasks).
    gunicorn, worker = gunicorn_server(), celery_worker()
    results: dict = {}
    try:
        time.sleep(3)
        workers = workers_of(gunicorn.pid)
        results["worker_rss_start_kib"] = [rss_peak_kib(pid) for pid in workers]
        if not args.skip_export:
            results |= exports_measure(token, tenant, client, purpose, args.runs)
            results["worker_rss_peak_kib"] = [rss_peak_kib(pid) for pid in workers]
            results["lookups"] = lookups(token, purpose, runs_single=300, runs_batch=30)
        if not args.skip_import:
            results["import"] = [import_once(token, args.import_rows, run) for run in range(args.runs)]
            speeds = [run["users_per_s"] for run in results["import"]]
            results["import_users_per_s_median"] = summary(speeds)["median"]
    finally:
        for process in (worker, gunicorn):
            process.terminate()
            process.wait(30)
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
