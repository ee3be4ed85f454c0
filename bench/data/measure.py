"""Measure export (JSON Lines and CSV), raw COPY, access-record step, lookups and bulk import
on hm_bench_data.

    .venv/bin/python bench/data/measure.py [--runs 3] [--import-rows 50000]
        [--skip-import] [--skip-export] [--skip-lookups]

Starts gunicorn (2 workers) and a Celery worker on Redis (REDIS_URL, default
redis://127.0.0.1:6379/8); prints one JSON document of results. Each export run takes
JSON Lines, CSV, the raw COPY baseline and the record step back to back and reports its
own ratios, the 1-minute load average and the CPU seconds each export cost the server
(gunicorn workers and database backends) and the client: on a shared machine the CPU
figures move far less than the wall times.
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
from common import CELERY_WORKER_COMMAND, DATABASE_URL, ROOT, django_setup, gunicorn_command, summary

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
PORT = 8765
django_setup(REDIS_URL=REDIS_URL)

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import get_access_token_model  # noqa: E402

from accounts.imports.models import ImportJob  # noqa: E402
from accounts.selectors import user_ids_visible_for_purpose, users_visible_for_purpose  # noqa: E402
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(workers: list[int]) -> dict[int, float]:
    """CPU time so far of the gunicorn workers and of the bench database's backends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        backends = [pid for (pid,) in cursor.fetchall()]
    return {pid: cpu_seconds(pid) for pid in [*workers, *backends]}


def export_once(token: str, format_name: str, workers: list[int]) -> dict:
    """One export through HTTP: wall time, lines, and the CPU seconds it cost the server
    (gunicorn workers and database backends; not parallel query workers) and this client.
    CPU time, unlike wall time, hardly depends on what else the machine runs."""
    cpu_before, client_before = server_cpu(workers), time.process_time()
    began = time.perf_counter()
    conn, response = request(token, "GET", f"/api/v1/purposes/newsletter/users?format={format_name}")
    assert response.status == 200, response.read()[:500]
    lines = 0
    while chunk := response.read(1 << 20):
        lines += chunk.count(b"\n")
    conn.close()
    wall = time.perf_counter() - began
    cpu_after = server_cpu(workers)
    server = sum(cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after)
    return {"s": wall, "lines": lines, "server_cpu_s": server, "client_cpu_s": time.process_time() - client_before}


def copy_once(purpose: Purpose) -> tuple[float, int, float]:
    """The baseline: COPY of the export's SELECT, as text; wall time, rows, and the CPU
    seconds of its backend (connecting is timed, its backend's start is not)."""
    query = users_visible_for_purpose(purpose=purpose).order_by("id").values(*FIELDS)
    sql, params = query.query.sql_with_params()
    began, rows = time.perf_counter(), 0
    with psycopg.connect(DATABASE_URL) as conn:
        backend_before = cpu_seconds(conn.info.backend_pid)
        with conn.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
            for block in copy:
                rows += bytes(block).count(b"\n")
        backend = cpu_seconds(conn.info.backend_pid) - backend_before
    return time.perf_counter() - began, rows, backend


def record_once(tenant: Tenant, client: Client, purpose: Purpose) -> float:
    began = time.perf_counter()
    access_record_for_query(
        tenant=tenant,
        client=client,
        purpose=purpose.slug,
        action="users.export",
        fields=list(FIELDS),
        user_ids=user_ids_visible_for_purpose(purpose=purpose),  # as the unfiltered export does
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
    # Its banner goes to stderr: stdout carries the JSON document.
    return subprocess.Popen(CELERY_WORKER_COMMAND, cwd=ROOT, env=server_env(), stdout=sys.stderr)


def gunicorn_server() -> subprocess.Popen:
    return subprocess.Popen(gunicorn_command(PORT), cwd=ROOT, env=server_env())


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def exports_measure(token: str, tenant: Tenant, client: Client, purpose: Purpose, runs: int, workers) -> dict:
    """Each run: JSONL export, CSV export, raw COPY and the record step back to back, so
    each run's ratios compare figures taken under the same load."""
    per_run = []
    for _ in range(runs):
        load = load_average()
        jsonl_export, csv_export = export_once(token, "jsonl", workers), export_once(token, "csv", workers)
        copy, copied, copy_cpu = copy_once(purpose)
        record = record_once(tenant, client, purpose)
        jsonl, csv, rows = jsonl_export["s"], csv_export["s"], jsonl_export["lines"]
        per_run.append(
            {
                "load_1min": load,
                "jsonl_s": jsonl,
                "csv_s": csv,
                "copy_s": copy,
                "record_s": record,
                "jsonl_server_cpu_s": jsonl_export["server_cpu_s"],
                "jsonl_client_cpu_s": jsonl_export["client_cpu_s"],
                "csv_server_cpu_s": csv_export["server_cpu_s"],
                "copy_server_cpu_s": copy_cpu,
                "rows": rows,
                "csv_rows": csv_export["lines"] - 1,  # less the header line
                "copy_rows": copied,
                "ratio_jsonl_to_copy": copy / jsonl,
                "ratio_csv_to_copy": copy / csv,
            }
        )
    rows = per_run[0]["rows"]
    export, csv_export, copy, records = (
        summary([run[key] for run in per_run]) for key in ("jsonl_s", "csv_s", "copy_s", "record_s")
    )
    return {
        "runs": per_run,
        "export": {"rows": rows, "seconds": export, "users_per_s": rows / export["median"]},
        "export_csv": {
            "rows": per_run[0]["csv_rows"],
            "seconds": csv_export,
            "users_per_s": rows / csv_export["median"],
        },
        "copy": {
            "rows": per_run[0]["copy_rows"],
            "seconds": copy,
            "rows_per_s": per_run[0]["copy_rows"] / copy["median"],
        },
        "record_step_s": records,
        # Medians of the per-run ratios (each run's export against its own COPY).
        "ratio_export_to_copy": summary([run["ratio_jsonl_to_copy"] for run in per_run])["median"],
        "ratio_csv_export_to_copy": summary([run["ratio_csv_to_copy"] for run in per_run])["median"],
        "record_share_of_export": records["median"] / export["median"],
        "jsonl_server_cpu_s": summary([run["jsonl_server_cpu_s"] for run in per_run]),
        "jsonl_client_cpu_s": summary([run["jsonl_client_cpu_s"] for run in per_run]),
        "csv_server_cpu_s": summary([run["csv_server_cpu_s"] for run in per_run]),
        "copy_server_cpu_s": summary([run["copy_server_cpu_s"] for run in per_run]),
        "load_1min": summary([run["load_1min"] for run in per_run]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--import-rows", type=int, default=50_000)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-export", action="store_true", help="no exports, COPY, record step or lookups")
    parser.add_argument("--skip-lookups", action="store_true")
    args = parser.parse_args()
    tenant = Tenant.objects.get(slug="t0")
    client = Client.objects.get(tenant=tenant, name="t0 backend")
    purpose = Purpose.all_tenants.get(tenant=tenant, slug="newsletter")
    token = token_issue(client)
    # The worker runs throughout, as in production (it is idle during the exports).
    gunicorn, worker = gunicorn_server(), celery_worker()
    results: dict = {}
    try:
        time.sleep(3)
        workers = workers_of(gunicorn.pid)
        results["worker_rss_start_kib"] = [rss_peak_kib(pid) for pid in workers]
        if not args.skip_export:
            results |= exports_measure(token, tenant, client, purpose, args.runs, workers)
            results["worker_rss_peak_kib"] = [rss_peak_kib(pid) for pid in workers]
            if not args.skip_lookups:
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
