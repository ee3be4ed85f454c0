"""One password-login POST in-process: SQL queries, Redis round trips, and a cProfile.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hm_bench_signin REDIS_URL=redis://127.0.0.1:6379/12 \
        .venv/bin/python bench/signin/profile_login.py [--logins 200] [--top 40]

Needs the database run.py prepares (its users ``reader<n>@bench.example``). Prints the
queries and Redis commands of one login, then the cumulative profile of ``--logins``
logins; before that, rounds of logins and bare verifications in turn, to give the time
a login spends outside the hash (wall, and CPU of this process: the CPU is what limits
logins per core when a worker per core is kept busy).
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.signin.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import check_password  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import User  # noqa: E402

PASSWORD = "correct horse battery staple 42"
CSRF = "b" * 32


class RedisCount:
    """Counts round trips: each command outside a pipeline, each pipeline once."""

    def __init__(self) -> None:
        self.trips: list[str] = []

    def __enter__(self):
        self._command = redis.Redis.execute_command
        self._pipeline = redis.client.Pipeline.execute
        trips = self.trips

        def command(client, *args, **options):
            if not isinstance(client, redis.client.Pipeline):
                trips.append(" ".join(str(arg)[:40] for arg in args[:3]))
            return self._command(client, *args, **options)

        def pipeline(client, *args, **options):
            trips.append(f"PIPELINE({len(client.command_stack)})")
            return self._pipeline(client, *args, **options)

        redis.Redis.execute_command = command
        redis.client.Pipeline.execute = pipeline
        return self

    def __exit__(self, *exc):
        redis.Redis.execute_command = self._command
        redis.client.Pipeline.execute = self._pipeline


def login(client: Client, n: int) -> None:
    client.cookies.clear()
    client.cookies["csrftoken"] = CSRF
    body = {"csrfmiddlewaretoken": CSRF, "login": f"reader{n % 500}@bench.example", "password": PASSWORD}
    answer = client.post(  # as wrk sends it: urlencoded, not the test client's multipart
        "/accounts/login/",
        urlencode(body),
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",  # one address a user, as in life
    )
    if answer.status_code != 302:
        raise SystemExit(f"login {n}: {answer.status_code} {answer.content[:300]!r}")


def postgres_cpu_ms() -> float:
    """CPU time so far of the PostgreSQL backend serving this process (same machine)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(function, count: int) -> tuple[float, float]:
    """Wall and CPU (this process) milliseconds per call."""
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        function(n)
    return (time.perf_counter() - wall) * 1000 / count, (time.process_time() - cpu) * 1000 / count


def measure(client: Client, encoded: str, batch: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """One round: ``batch`` logins, then as many bare verifications."""
    logins = timed(lambda n: login(client, n), batch)
    hashes = timed(lambda n: check_password(PASSWORD, encoded), batch)
    return logins, hashes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--engine", help="another SESSION_ENGINE to measure")
    parser.add_argument("--rate-limits", action="store_true", help="the hub's limits on, as deployed")
    args = parser.parse_args()
    if args.rate_limits:
        from harbourmaster import settings as hub

        settings.ACCOUNT_RATE_LIMITS = hub.ACCOUNT_RATE_LIMITS
    if args.engine:
        settings.SESSION_ENGINE = args.engine
    client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
    for n in range(5):
        login(client, n)  # warm: imports, templates, connections

    with CaptureQueriesContext(connection) as queries, RedisCount() as trips:
        login(client, 7)
    print(f"== one login: {len(queries)} SQL queries, {len(trips.trips)} Redis round trips")
    for query in queries.captured_queries:
        print("  SQL", query["sql"][:160])
    for trip in trips.trips:
        print("  REDIS", trip)

    encoded = User.objects.get(email="reader0@bench.example").password
    backend = postgres_cpu_ms()
    rounds = [measure(client, encoded, args.batch) for _ in range(args.rounds)]
    backend = (postgres_cpu_ms() - backend) / (args.rounds * args.batch)
    for label, index in (("login", 0), ("hash", 1)):
        wall = statistics.median(r[index][0] for r in rounds)
        cpu = statistics.median(r[index][1] for r in rounds)
        print(f"== {label}: {wall:.2f} ms wall, {cpu:.2f} ms CPU of this process (median of {args.rounds} rounds)")
    outside = statistics.median(r[0][1] - r[1][1] for r in rounds)
    print(f"== outside the hash: {outside:.2f} ms CPU of this process a login (paired rounds)")
    print(f"== PostgreSQL's backend process: {backend:.2f} ms CPU a login")

    profiler = cProfile.Profile(time.process_time)  # CPU, not wall: the machine is shared
    profiler.enable()
    for n in range(args.logins):
        login(client, n)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
