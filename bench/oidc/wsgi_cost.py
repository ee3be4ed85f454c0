"""CPU per request of one hub scenario, through the WSGI application itself (no test client,
no HTTP): what a gunicorn worker spends in Django for it.

    .venv/bin/python bench/oidc/wsgi_cost.py api 2000              # median and min of 9 runs
    .venv/bin/python bench/oidc/wsgi_cost.py token 2000 --profile  # cProfile, cumulative

Uses the database and credentials run.py left behind (.state/hub.json). Scenarios: token,
introspect, api, refresh (each request spends one of the refresh tokens issued first).
PostgreSQL and Redis run in processes of their own; their CPU is not counted here, but the
database's share of the measured runs is printed beside it.
"""

import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (no Django at import)

SCENARIO, COUNT = sys.argv[1], int(sys.argv[2])
target = run.targets()["hub"]
os.environ.update(target.env)
sys.path.insert(0, str(target.chdir))
target.state = run.json.loads((run.STATE / "hub.json").read_text())
PATH, SCRIPT, ARGS = run._plans({"hub": target})[SCENARIO]["hub"]

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()


def environ() -> dict:
    base = {
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(target.port),
        "HTTP_HOST": f"127.0.0.1:{target.port}",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if SCRIPT == "get.lua":
        return {**base, "REQUEST_METHOD": "GET", "HTTP_AUTHORIZATION": ARGS[0], "wsgi.input": io.BytesIO(b"")}
    body = (ARGS[0] if SCRIPT == "post.lua" else f"grant_type=refresh_token&refresh_token={next(REFRESH)}").encode()
    return {
        **base,
        "REQUEST_METHOD": "POST",
        "HTTP_AUTHORIZATION": ARGS[1],
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


statuses: list[str] = []
REFRESH = iter(())


def refresh_tokens_issue(count: int) -> None:
    global REFRESH
    if SCRIPT != "refresh.lua":
        return
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        subprocess.run([*target.setup, "refresh-tokens", str(count), out.name], check=True, env=os.environ)
        REFRESH = iter(Path(out.name).read_text().split())


def database_cpu() -> float:
    """CPU seconds of this process's PostgreSQL backend (on this machine in the benchmarks)."""
    from django.db import connection

    connection.ensure_connection()
    fields = Path(f"/proc/{connection.connection.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def once() -> None:
    for _ in application(environ(), lambda status, headers, exc_info=None: statuses.append(status)):
        pass


def main() -> None:
    refresh_tokens_issue(50 + (COUNT if "--profile" in sys.argv else 9 * COUNT))
    for _ in range(50):  # warm: caches filled, statements prepared
        once()
    print(SCENARIO, statuses[-1])
    if "--profile" in sys.argv:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(COUNT):
            once()
        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(60)
        return
    runs, database = [], database_cpu()
    for _ in range(9):
        started = time.process_time()
        for _ in range(COUNT):
            once()
        runs.append((time.process_time() - started) / COUNT * 1e6)
    database = (database_cpu() - database) / (9 * COUNT) * 1e6
    print(
        f"{SCENARIO}: CPU µs per request, 9 runs of {COUNT}: median {sorted(runs)[4]:.0f}, min {min(runs):.0f};"
        f" database process {database:.0f} (mean)"
    )


if __name__ == "__main__":
    main()
