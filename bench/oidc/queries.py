"""Per-request cost of each scenario, in-process: SQL queries and Redis commands.

    .venv/bin/python bench/oidc/queries.py hub      # or: stock   (after run.py has set up)
    .venv/bin/python bench/oidc/queries.py hub --time 300   # and the in-process time per request

Uses the databases and credentials run.py left behind (.state/*.json); sends each
scenario's request three times through Django's test client and reports the third,
so caches are warm as under load. Prints every SQL statement with -v.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (no Django at import)

SIDE = sys.argv[1]
VERBOSE = "-v" in sys.argv
# --time N: also time N requests per scenario in this process (a contention-robust look).
TIMED = int(sys.argv[sys.argv.index("--time") + 1]) if "--time" in sys.argv else 0
target = run.targets()[SIDE]
os.environ.update(target.env)
sys.path.insert(0, str(target.chdir))

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

commands = []
_execute = redis.Redis.execute_command


def _counting(self, *args, **options):  # counts only; this process is the benchmark's own
    commands.append(str(args[0]))
    return _execute(self, *args, **options)


redis.Redis.execute_command = _counting
_pipeline_execute = redis.client.Pipeline.execute


def _counting_pipeline(self, *args, **options):  # one round trip for all its commands
    commands.append("PIPELINE(" + "+".join(str(command[0][0]) for command in self.command_stack) + ")")
    return _pipeline_execute(self, *args, **options)


redis.client.Pipeline.execute = _counting_pipeline


def refresh_tokens(count: int) -> list[str]:
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        subprocess.run([*target.setup, "refresh-tokens", str(count), out.name], check=True, env=os.environ)
        return Path(out.name).read_text().split()


def main() -> None:
    target.state = run.json.loads((run.STATE / f"{SIDE}.json").read_text())
    placeholder = run._plans({SIDE: target})
    client = Client(HTTP_HOST="127.0.0.1")
    for scenario, plan in placeholder.items():
        if SIDE not in plan:
            continue
        path, script, args = plan[SIDE]
        tokens = refresh_tokens(3) if script == "refresh.lua" else []
        for attempt in range(3):
            commands.clear()
            with CaptureQueriesContext(connection) as queries:
                if script == "get.lua":
                    response = client.get(path, HTTP_AUTHORIZATION=args[0])
                else:
                    body = (
                        args[0] if script == "post.lua" else f"grant_type=refresh_token&refresh_token={tokens[attempt]}"
                    )
                    authorization = args[1]
                    response = client.post(
                        path, body, content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=authorization
                    )
        statements = [query["sql"] for query in queries.captured_queries]
        # A statement writes if it holds a write: "WITH ... UPDATE ... INSERT" and
        # "SET LOCAL ...; INSERT ..." are one statement, one round trip each.
        writes = sum(1 for sql in statements if re.search(r"\b(INSERT INTO|UPDATE \S+ SET|DELETE FROM)\b", sql))
        print(
            f"{SIDE:5} {scenario:24} HTTP {response.status_code}  SQL {len(statements):2} ({writes} writes)"
            f"  Redis {len(commands):2} {' '.join(commands)}"
        )
        if VERBOSE:
            for sql in statements:
                print("        ", sql[:220])
        if TIMED:
            _time(client, path, script, args)


def _time(client, path, script, args) -> None:
    """Mean wall and CPU time of this process per request (its own work, not the servers')."""
    tokens = refresh_tokens(TIMED) if script == "refresh.lua" else []
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid  # PostgreSQL's process for this connection
    database = _cpu_seconds(backend)
    wall, cpu = time.perf_counter(), time.process_time()
    for attempt in range(TIMED):
        if script == "get.lua":
            client.get(path, HTTP_AUTHORIZATION=args[0])
        else:
            body = args[0] if script == "post.lua" else f"grant_type=refresh_token&refresh_token={tokens[attempt]}"
            client.post(path, body, content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=args[1])
    wall, cpu = (time.perf_counter() - wall) / TIMED, (time.process_time() - cpu) / TIMED
    database = (_cpu_seconds(backend) - database) / TIMED
    print(
        f"        {TIMED} requests in-process: {wall * 1000:.2f} ms wall, {cpu * 1000:.2f} ms CPU each"
        f" (and {database * 1000:.2f} ms CPU in the database's process)"
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process on this machine (PostgreSQL runs here in the benchmarks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
