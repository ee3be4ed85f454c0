"""Password logins per second per core, against the raw hash rate at the same parameters.

    .venv/bin/python bench/signin/run.py [--runs 5] [--duration 10]

One gunicorn sync worker per core serves the hub (PostgreSQL hm_bench_signin, Redis db
12, allauth's rate limits off: bench/signin/settings.py); wrk POSTs allauth's login form
for rotating users (lua: login.lua) and every answer must be the 302 of a successful
sign-in. Runs alternate with the raw rate: one process per core verifying the same
password with the hub's hasher (hashrate.py) for as long. Figures are medians; the
ratio is login rate per core / hash rate per core, also per adjacent pair of runs. On a
shared machine the wall-clock rates carry everyone else's load; so each run also divides
its logins by the CPU time gunicorn, its PostgreSQL backends and wrk used (logins per
CPU-second, i.e. per fully used core), against verifications per CPU-second of a verifying
process. Writes bench/signin/RESULTS.md.
"""

import argparse
import contextlib
import dataclasses
import datetime
import os
import platform
import re
import resource
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
    # Keep each worker's database connection for the whole benchmark (deployed: 60 s, so one
    # reconnection a minute), so that the CPU of the same backends is read before and after.
    "DATABASE_CONN_MAX_AGE": "3600",
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
        except requests.RequestException:  # not listening yet, or a worker still importing
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


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pipeline_pids(server: subprocess.Popen) -> dict[str, list[int]]:
    """gunicorn's master and workers, and the PostgreSQL backends serving the benchmark's database."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DATABASE}", autocommit=True) as connection:
        backends = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [DATABASE]
        ).fetchall()
    return {"gunicorn": [server.pid, *map(int, children)], "PostgreSQL": [pid for (pid,) in backends]}


def pipeline_cpu_seconds(pids: dict[str, list[int]]) -> dict[tuple[str, int], float]:
    """CPU used so far by each of ``pids`` still alive, and by run.py's finished children (wrk)."""
    total = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = {("wrk", 0): total.ru_utime + total.ru_stime}
    for part, part_pids in pids.items():
        for pid in part_pids:
            with contextlib.suppress(FileNotFoundError):
                used[part, pid] = process_cpu_seconds(pid)
    return used


def cpu_between(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds used between two readings by gunicorn, PostgreSQL and wrk. None of the
    processes may come or go: gunicorn's workers and their connections live for the run."""
    if before.keys() != after.keys():
        raise SystemExit(f"processes came or went during a run: {sorted(map(str, before.keys() ^ after.keys()))}")
    parts: dict[str, float] = {}
    for part, pid in before:
        parts[part] = parts.get(part, 0.0) + after[part, pid] - before[part, pid]
    return parts


def hash_rate(workers: int, seconds: float) -> tuple[float, float]:
    """Verifications per second per core, one process per core at once; and per CPU-second."""
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
    rates = [tuple(map(float, process.communicate()[0].split())) for process in processes]
    return sum(rate for rate, _ in rates) / workers, statistics.median(per_cpu for _, per_cpu in rates)


def login_rate(
    workers: int, seconds: float, users: int, csrf: str, connections: int, server: subprocess.Popen
) -> tuple[float, str, float, str]:
    """Logins per second per core, p50/p99 latency, logins per CPU-second of the whole
    pipeline (gunicorn, its PostgreSQL backends, wrk; Redis, shared with others, left out),
    and the CPU milliseconds a login took in each of those three."""
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
    pids = pipeline_pids(server)
    before = pipeline_cpu_seconds(pids)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    parts = cpu_between(before, pipeline_cpu_seconds(pids))
    failed = int(re.search(r"NOT_302 (\d+)", output).group(1))
    timeouts = re.search(r"timeout (\d+)", output)
    if failed or (timeouts and int(timeouts.group(1))):
        raise SystemExit(f"{failed} logins did not succeed:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    count = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = re.search(r"50%\s+(\S+)", output).group(1)
    p99 = re.search(r"99%\s+(\S+)", output).group(1)
    split = " / ".join(f"{parts[part] * 1000 / count:.1f}" for part in ("gunicorn", "PostgreSQL", "wrk"))
    return rate / workers, f"{p50} / {p99}", count / sum(parts.values()), split


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
        login_rate(args.workers, 3, args.users, csrf, args.connections, server)  # warm-up
        runs = []
        for run in range(args.runs):
            load = os.getloadavg()[0]
            raw, raw_per_cpu = hash_rate(args.workers, args.duration)
            rate, latency, per_cpu, split = login_rate(
                args.workers, args.duration, args.users, csrf, args.connections, server
            )
            runs.append(Run(rate, raw, latency, per_cpu, raw_per_cpu, split, load))
            log(
                f"run {run + 1}: {rate:.1f} logins/s per core, {raw:.1f} verifications/s per core; "
                f"per CPU-second {per_cpu:.1f} vs {raw_per_cpu:.1f} (CPU ms a login: {split}); load {load:.2f}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)

    summary = Summary.of(runs)
    log(
        f"median: {summary.logins:.1f} logins/s per core; raw {summary.raw:.1f}/s per core; "
        f"ratio {summary.ratio:.2f}; per CPU-second ratio {summary.cpu_ratio:.2f}"
    )
    if not args.no_write:
        (HERE / "RESULTS.md").write_text(report(args, algorithm, parameters, runs, summary), encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class Run:
    logins: float  # per second per core
    raw: float  # verifications per second per core
    latency: str
    logins_per_cpu: float  # per CPU-second of the login pipeline
    raw_per_cpu: float  # per CPU-second of a verifying process
    split: str  # CPU ms a login: gunicorn / PostgreSQL / wrk
    load: float  # 1-minute load average as the run started


@dataclasses.dataclass(frozen=True)
class Summary:
    logins: float
    raw: float
    ratio: float
    paired: float
    logins_per_cpu: float
    raw_per_cpu: float
    cpu_ratio: float

    @classmethod
    def of(cls, runs: list[Run]) -> "Summary":
        logins, raw = statistics.median(r.logins for r in runs), statistics.median(r.raw for r in runs)
        per_cpu, raw_per_cpu = (
            statistics.median(r.logins_per_cpu for r in runs),
            statistics.median(r.raw_per_cpu for r in runs),
        )
        paired = statistics.median(r.logins / r.raw for r in runs)
        return cls(logins, raw, logins / raw, paired, per_cpu, raw_per_cpu, per_cpu / raw_per_cpu)


def report(args, algorithm: str, parameters: str, runs: list[Run], summary: Summary) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    rows = "\n".join(
        f"| {n + 1} | {r.logins:.1f} | {r.raw:.1f} | {r.logins / r.raw:.2f} | {r.logins_per_cpu:.1f} | "
        f"{r.raw_per_cpu:.1f} | {r.split} | {r.latency} | {r.load:.2f} |"
        for n, r in enumerate(runs)
    )
    met = "yes" if summary.logins >= 40 and summary.ratio >= 0.6 else "no"
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
allauth's rate limits are off (bench/signin/settings.py): one address sending hundreds of logins
a second is what they exist to stop. As deployed they add about 20 Redis round trips, some 1.6 ms
of CPU, to each login (`bench/signin/profile_login.py --rate-limits`).

The per-CPU-second columns do not depend on what else the shared machine runs: logins divided by
the CPU time gunicorn (master and workers), its PostgreSQL backends and wrk used during the run
(Redis, shared with other work, is left out: a login sends it one command, the new session), against
verifications per CPU-second of one verifying process.

| | per core (median of {args.runs}) |
|---|---:|
| password logins/s | **{summary.logins:.1f}** |
| raw hash verifications/s | {summary.raw:.1f} |
| ratio logins / raw | **{summary.ratio:.2f}** (paired runs: {summary.paired:.2f}) |
| target (ratio ≥ 0.6 and ≥ 40 logins/s per core) | {met} |
| logins per CPU-second / verifications per CPU-second | {summary.logins_per_cpu:.1f} / {summary.raw_per_cpu:.1f} = **{summary.cpu_ratio:.2f}** |

| run | logins/s per core | raw/s per core | ratio | logins per CPU-s | raw per CPU-s | CPU ms a login: gunicorn / PostgreSQL / wrk | p50 / p99 login latency | load (1 min) |
|---|---:|---:|---:|---:|---:|---|---|---:|
{rows}
"""


if __name__ == "__main__":
    main()
