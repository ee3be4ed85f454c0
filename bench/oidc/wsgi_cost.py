"""CPU per request of one hub scenario, through the WSGI application itself (no test client,
no HTTP): what a gunicorn worker spends in Django for it.

    .venv/bin/python bench/oidc/wsgi_cost.py api 2000              # median and min of 9 runs
    .venv/bin/python bench/oidc/wsgi_cost.py token 2000 --profile  # cProfile, cumulative

Uses the database and credentials run.py left behind (.state/hub.json). Scenarios: token,
introspect, api (refresh spends a token per request: use queries.py --time for it).
PostgreSQL and Redis run in processes of their own; their CPU is not counted.
"""

import cProfile
import io
import os
import pstats
import sys
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
    body = ARGS[0].encode()
    return {
        **base,
        "REQUEST_METHOD": "POST",
        "HTTP_AUTHORIZATION": ARGS[1],
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


statuses: list[str] = []


def once() -> None:
    for _ in application(environ(), lambda status, headers, exc_info=None: statuses.append(status)):
        pass


def main() -> None:
    for _ in range(50):  # warm: caches filled, statements prepared
        once()
    print(SCENARIO, statuses[-1])
    if "--profile" in sys.argv:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(COUNT):
            once()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        return
    runs = []
    for _ in range(9):
        started = time.process_time()
        for _ in range(COUNT):
            once()
        runs.append((time.process_time() - started) / COUNT * 1e6)
    print(f"{SCENARIO}: CPU µs per request, 9 runs of {COUNT}: median {sorted(runs)[4]:.0f}, min {min(runs):.0f}")


if __name__ == "__main__":
    main()
