"""Password logins per second per core, against the raw hash rate at the same parameters.

    .venv/bin/python bench/signin/run.py [--runs 5] [--duration 10]

One gunicorn sync worker per core serves the hub (PostgreSQL hm_bench_signin, Redis db
12, allauth's rate limits off: bench/signin/settings.py); wrk POSTs allauth's login form
for rotating users (lua: login.lua) and every answer must be the 302 of a successful
sign-in. Runs alternate with the raw rate: one process per core verifying the same
password with the hub's hasher (hashrate.py) for as long. Figures are medians; the
ratio is login rate per core / hash rate per core, also per adjacent pair of runs.
Writes bench/signin/RESULTS.md.
"""

import argparse
import datetime
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATABASE = "hm_bench_signin"
PORT = 8711
PASSWORD = "correct horse battery staple 42"
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
    "REDIS_URL": "redis://127.0.0.1:6379/12",
    "DJANGO_SETTINGS_MODULE": "bench.signin.settings",
    "HARBOURMASTER_ENV": "development",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "127.0.0.1",
    "PYTHONPATH": str(ROOT),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def environment() -> dict:
    return {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")} | ENV


def prepare(users: int) -> list[str]:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    import redis

    redis.Redis.from_url(ENV["REDIS_URL"]).flushdb()
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=environment(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    out = subprocess.run(
        [python, str(HERE / "setup.py"), str(users), PASSWORD],
        cwd=ROOT,
        env=environment(),
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()  # algorithm and parameters of the stored hash


def serve(workers: int) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{PORT}"]
    command += ["--access-logfile", "/dev/null", "--error-logfile", str(HERE / ".gunicorn.log"), "harbourmaster.wsgi"]
    process = subprocess.Popen(command, cwd=ROOT, env=environment())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{PORT}/health/live", timeout=2).status_code == 200:
                return process
        except requests.ConnectionError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("gunicorn did not come up")


def smoke(csrf: str) -> None:
    """One login the way wrk sends it must sign the user in."""
    answer = requests.post(
        f"http://127.0.0.1:{PORT}/accounts/login/",
        data={"csrfmiddlewaretoken": csrf, "login": "reader0@bench.example", "password": PASSWORD},
        cookies={"csrftoken": csrf},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 302 or "hm_session" not in answer.cookies:
        raise SystemExit(f"the login form did not sign in: {answer.status_code} {answer.text[:300]}")


def hash_rate(workers: int, seconds: float) -> float:
    """Verifications per second per core, one process per core at once."""
    processes = [
        subprocess.Popen(
            [sys.executable, str(HERE / "hashrate.py"), str(seconds)],
            cwd=ROOT,
            env=environment(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    rates = [float(process.communicate()[0]) for process in processes]
    return sum(rates) / workers


def login_rate(workers: int, seconds: float, users: int, csrf: str, connections: int) -> tuple[float, str]:
    command = ["wrk", "--threads", "1", "--connections", str(connections), "--duration", f"{seconds:g}s", "--latency"]
    command += [
        "-s",
        str(HERE / "login.lua"),
        f"http://127.0.0.1:{PORT}/accounts/login/",
        "--",
        str(users),
        PASSWORD,
        csrf,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    failed = int(re.search(r"NOT_302 (\d+)", output).group(1))
    timeouts = re.search(r"timeout (\d+)", output)
    if failed or (timeouts and int(timeouts.group(1))):
        raise SystemExit(f"{failed} logins did not succeed:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = re.search(r"50%\s+(\S+)", output).group(1)
    p99 = re.search(r"99%\s+(\S+)", output).group(1)
    return rate / workers, f"{p50} / {p99}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run and side")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gunicorn workers (one per core)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    log(f"preparing {DATABASE} with {args.users} users")
    algorithm, parameters = prepare(args.users)
    csrf = secrets.token_hex(16)  # 32 characters, sent as cookie and form field alike
    server = serve(args.workers)
    try:
        smoke(csrf)
        login_rate(args.workers, 3, args.users, csrf, args.connections)  # warm-up
        logins, hashes, latencies = [], [], []
        for run in range(args.runs):
            hashes.append(hash_rate(args.workers, args.duration))
            rate, latency = login_rate(args.workers, args.duration, args.users, csrf, args.connections)
            logins.append(rate)
            latencies.append(latency)
            log(f"run {run + 1}: {rate:.1f} logins/s per core, {hashes[-1]:.1f} verifications/s per core")
    finally:
        server.terminate()
        server.wait(timeout=30)

    login_median, hash_median = statistics.median(logins), statistics.median(hashes)
    paired = statistics.median(login / raw for login, raw in zip(logins, hashes, strict=True))
    log(
        f"median: {login_median:.1f} logins/s per core; raw {hash_median:.1f}/s per core; ratio {login_median / hash_median:.2f}"
    )
    if not args.no_write:
        (HERE / "RESULTS.md").write_text(
            report(args, algorithm, parameters, logins, hashes, latencies, login_median, hash_median, paired),
            encoding="utf-8",
        )


def report(args, algorithm, parameters, logins, hashes, latencies, login_median, hash_median, paired) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    rows = "\n".join(
        f"| {n + 1} | {login:.1f} | {raw:.1f} | {login / raw:.2f} | {latency} |"
        for n, (login, raw, latency) in enumerate(zip(logins, hashes, latencies, strict=True))
    )
    met = "yes" if login_median >= 40 and login_median / hash_median >= 0.6 else "no"
    return f"""# Password logins per core vs the raw hash rate

Recorded {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC:

```
.venv/bin/python bench/signin/run.py --runs {args.runs} --duration {args.duration:g}
```

Hasher: `{algorithm}` with `{parameters}` (accounts/hashers.py). Machine: {cpu}, {os.cpu_count()} cores,
Python {platform.python_version()}. gunicorn sync, {args.workers} workers (one per core); wrk 1 thread,
{args.connections} connections, POSTing allauth's login form (CSRF cookie + field) for {args.users}
rotating users with verified addresses, every answer checked to be the sign-in's 302. The raw rate is
one `check_password` loop per core, all at once, in runs alternating with the login runs. PostgreSQL,
Redis, wrk and the workers share the cores, so the login figure carries all of that.

| | per core (median of {args.runs}) |
|---|---:|
| password logins/s | **{login_median:.1f}** |
| raw hash verifications/s | {hash_median:.1f} |
| ratio logins / raw | **{login_median / hash_median:.2f}** (paired runs: {paired:.2f}) |
| target (ratio ≥ 0.6 and ≥ 40 logins/s per core) | {met} |

| run | logins/s per core | raw/s per core | ratio | p50 / p99 login latency |
|---|---:|---:|---:|---|
{rows}
"""


if __name__ == "__main__":
    main()
