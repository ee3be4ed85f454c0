"""Single sign-on throughput: Harbourmaster against stock django-oauth-toolkit, same run.

    .venv/bin/python bench/oidc/run.py                      # full run, writes bench/oidc/RESULTS.md
    .venv/bin/python bench/oidc/run.py --runs 1 --duration 3 --no-write    # a quick look

Both projects are set up from scratch (own PostgreSQL database, own Redis database),
both are served by gunicorn with one sync worker per core on 127.0.0.1, and every
scenario is loaded with wrk in interleaved runs (stock, hub, hub, stock, ...) so that
drift on the machine hits both alike. The figure per scenario is the median of the runs.
Only loopback addresses are ever loaded; every wrk run is bounded by --duration.
"""

import argparse
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
STATE = HERE / ".state"
LUA = HERE / "lua"

HUB_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/hm_bench_hub",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
    "HARBOURMASTER_ENV": "development",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "127.0.0.1",
    # Fixed, so the setup script and the server hash client secrets with the same key,
    # and var/ of the checkout is left alone.
    "SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789abcdef",
    "HARBOURMASTER_VAR_DIR": str(STATE / "var"),
    "DJANGO_SETTINGS_MODULE": "harbourmaster.settings",
}
STOCK_ENV = {"DJANGO_SETTINGS_MODULE": "stock.settings"}

# The issue's targets, per core (= per gunicorn worker), and its stock figures.
TARGETS = {"token": 1000, "introspect": 1500, "api": 2000, "refresh": 600}
ISSUE_STOCK = {"token": "≈330 (plain secret)", "introspect": "≈270", "api": "≈460", "refresh": "—"}


@dataclass
class Target:
    name: str
    port: int
    env: dict
    chdir: Path
    app: str
    health: str
    setup: list[str]
    state: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def basic(client: dict) -> str:
    return "Basic " + b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()


# scenario -> target -> (path, lua script, wrk script args); built from the setup state.
def scenarios(stock: dict, hub: dict) -> dict[str, dict[str, tuple]]:
    cc = "grant_type=client_credentials&scope="
    return {
        "token": {
            "stock": ("/o/token/", "post.lua", [cc + "read", basic(stock["token_plain"])]),
            "hub": ("/o/token/", "post.lua", [cc + "tenant%3Aadmin", basic(hub["token"])]),
        },
        "token-hashed-secret": {
            "stock": ("/o/token/", "post.lua", [cc + "read", basic(stock["token_hashed"])]),
        },
        "introspect": {
            # DOT's documented resource-server setup: a bearer token with scope "introspection".
            "stock": (
                "/o/introspect/",
                "post.lua",
                ["token=" + stock["api_token"], "Bearer " + stock["introspector"]["bearer"]],
            ),
            # The hub only takes client authentication here (HTTP Basic, HMAC-stored secret).
            "hub": ("/o/introspect/", "post.lua", ["token=" + hub["api_token"], basic(hub["introspector"])]),
        },
        "introspect-basic-auth": {
            "stock": ("/o/introspect/", "post.lua", ["token=" + stock["api_token"], basic(stock["introspector"])]),
        },
        "api": {
            "stock": ("/api/ping", "get.lua", ["Bearer " + stock["api_token"]]),
            "hub": ("/api/v1/tenant", "get.lua", ["Bearer " + hub["api_token"]]),
        },
        # Not a comparison: the fastest any Django view answers here (stock's startproject
        # middleware, no auth, no database), to read the targets against.
        "floor": {
            "stock": ("/floor", "get.lua", [""]),
        },
        "refresh": {
            "stock": ("/o/token/", "refresh.lua", [None, basic(stock["refresh_client"])]),
            "hub": ("/o/token/", "refresh.lua", [None, basic(hub["refresh_client"])]),
        },
    }


def targets() -> dict[str, Target]:
    return {
        "stock": Target(
            "stock",
            8701,
            STOCK_ENV,
            HERE,
            "stock.wsgi:application",
            "/api/ping",
            [PYTHON, str(HERE / "stock" / "setup.py")],
        ),
        "hub": Target(
            "hub",
            8702,
            HUB_ENV,
            ROOT,
            "harbourmaster.wsgi:application",
            "/health/live",
            [PYTHON, str(HERE / "hub_setup.py")],
        ),
    }


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, flush=True)


def environment(target: Target) -> dict:
    return {**os.environ, **target.env}


def setup(target: Target) -> None:
    log(f"{target.name}: setting up (fresh database)")
    subprocess.run(target.setup, env=environment(target), check=True, timeout=600, stdout=subprocess.DEVNULL)
    target.state = json.loads((STATE / f"{target.name}.json").read_text())


def refresh_tokens(target: Target, count: int) -> str:
    with tempfile.NamedTemporaryFile(prefix=f"refresh-{target.name}-", suffix=".txt", dir=STATE, delete=False) as out:
        path = out.name
    command = [*target.setup, "refresh-tokens", str(count), path]
    subprocess.run(command, env=environment(target), check=True, timeout=600)
    return path


def serve(target: Target, workers: int, worker_threads: int = 0) -> None:
    # Sync workers close every connection; gthread workers keep them alive and overlap
    # their threads' waits on PostgreSQL and Redis (still one worker process per core).
    threaded = ["--worker-class", "gthread", "--threads", str(worker_threads)] if worker_threads else []
    command = [
        GUNICORN,
        *threaded,
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{target.port}",
        "--chdir",
        str(target.chdir),
        "--no-control-socket",
        "--log-level",
        "warning",
        target.app,
    ]
    log_file = open(STATE / f"gunicorn-{target.name}.log", "w")  # noqa: SIM115 - lives as long as the server
    target.process = subprocess.Popen(
        command, env=environment(target), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(target.base + target.health, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without a token is an answer)
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{target.name}: gunicorn did not come up; see {log_file.name}")


def stop(target: Target) -> None:
    if target.process and target.process.poll() is None:
        os.killpg(target.process.pid, signal.SIGTERM)  # our own session: master and its workers
        target.process.wait(timeout=30)


def worker_pids(target: Target) -> list[int]:
    children = Path(f"/proc/{target.process.pid}/task/{target.process.pid}/children").read_text().split()
    return [int(pid) for pid in children]


# Other work on the machine (other people's test suites) steals cores from a run; what it
# took is recorded with every run. Kernel threads (no command line) and the benchmark's own
# processes are left out; other projects' PostgreSQL backends are too, so it is a floor.
OURS = (b"127.0.0.1:8701", b"127.0.0.1:8702", b"postgres", b"redis-server", b"wrk", b"py-spy", b"bench/oidc")


def foreign_cpu_seconds() -> float:
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        if not cmdline or any(mark in cmdline for mark in OURS):
            continue
        fields = stat.rpartition(")")[2].split()
        # utime, stime only: children's time lands in cutime when reaped, including time a
        # child spent while it was left out above (psql, our own helpers), so it overcounts.
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    requests_per_second: float
    requests: int
    non_2xx: int
    socket_errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    foreign_cores: float = 0.0

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0 and self.requests > 0


def _milliseconds(text: str) -> float | None:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        return None
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def wrk_command(args, target: Target, path: str, script: str, script_args: list, duration: float) -> list[str]:
    return [
        "wrk",
        "--threads",
        str(args.threads),
        "--connections",
        str(args.connections),
        "--duration",
        f"{duration:g}s",
        "--timeout",
        "5s",
        "--latency",
        "--script",
        str(LUA / script),
        target.base + path,
        "--",
        *[str(arg) for arg in script_args],
    ]


def quiet_wait(limit: float) -> None:
    """Wait (at most ``limit`` seconds) for a moment when other processes leave the cores alone."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = foreign_cpu_seconds()
        time.sleep(1)
        if foreign_cpu_seconds() - before < 0.15:
            return


def wrk(args, target: Target, path: str, script: str, script_args: list, duration: float) -> Measurement:
    command = wrk_command(args, target, path, script, script_args, duration)
    quiet_wait(args.quiet_wait)
    foreign_before, started = foreign_cpu_seconds(), time.monotonic()
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    with open(STATE / "wrk.log", "a") as wrk_log:
        wrk_log.write(f"### {target.name} {path} {script}\n{output}\n")
    found = lambda pattern: re.search(pattern, output)  # noqa: E731
    socket = found(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    p50, p99 = found(r"(?m)^\s+50%\s+(\S+)"), found(r"(?m)^\s+99%\s+(\S+)")
    foreign = max(0.0, foreign_cpu_seconds() - foreign_before) / (time.monotonic() - started)
    return Measurement(
        foreign_cores=round(foreign, 2),
        requests_per_second=float(found(r"Requests/sec:\s+([\d.]+)").group(1)),
        requests=int(found(r"(\d+) requests in").group(1)),
        non_2xx=int(found(r"Non-2xx or 3xx responses: (\d+)").group(1)) if found("Non-2xx") else 0,
        # A sync worker closes every connection, so wrk's "read" errors are its
        # reconnects, not failures; connect errors and timeouts are.
        socket_errors=(int(socket.group(1)) + int(socket.group(4))) if socket else 0,
        latency_p50_ms=_milliseconds(p50.group(1)) if p50 else None,
        latency_p99_ms=_milliseconds(p99.group(1)) if p99 else None,
    )


def smoke(target: Target, path: str, script: str, script_args: list) -> str | None:
    """One request by hand; returns why the scenario cannot be measured, or None."""
    if script == "refresh.lua":
        token_file = refresh_tokens(target, 1)
        token = Path(token_file).read_text().strip()
        Path(token_file).unlink()
        body, authorization = f"grant_type=refresh_token&refresh_token={token}", script_args[1]
        method = "POST"
    elif script == "post.lua":
        body, authorization, method = script_args[0], script_args[1], "POST"
    else:
        body, authorization, method = None, script_args[0], "GET"
    request = urllib.request.Request(
        target.base + path,
        data=body.encode() if body is not None else None,
        method=method,
        headers={"Authorization": authorization, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = response.read()
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}: {error.read()[:200].decode(errors='replace')}"
    except OSError as error:
        return f"no answer: {error}"
    if script != "get.lua" and b'"active": false' in answer:
        return f"answered {answer[:200].decode(errors='replace')}"
    return None


def measure_scenario(args, name: str, plan: dict[str, tuple], by_name: dict[str, Target], results: dict) -> None:
    live = {}
    for target_name, (path, script, script_args) in plan.items():
        reason = smoke(by_name[target_name], path, script, script_args)
        if reason:
            log(f"{name}/{target_name}: NOT MEASURED: {reason}")
            results[name][target_name] = {"error": reason}
        else:
            live[target_name] = (path, script, script_args)
    warm_rates = {}
    for target_name, (path, script, script_args) in live.items():
        target = by_name[target_name]
        arguments = list(script_args)
        if script == "refresh.lua":
            arguments[0] = refresh_tokens(target, args.warmup_refresh_tokens)
            arguments.append(args.threads)
        warm = wrk(args, target, path, script, arguments, args.warmup)
        if script == "refresh.lua":
            Path(arguments[0]).unlink()
        warm_rates[target_name] = warm.requests_per_second
        log(f"{name}/{target_name}: warm-up {warm.requests_per_second:.0f}/s")
    for run in range(args.runs):
        order = list(live) if run % 2 == 0 else list(reversed(live))
        for target_name in order:
            path, script, script_args = live[target_name]
            target = by_name[target_name]
            arguments = list(script_args)
            if script == "refresh.lua":
                # Enough fresh refresh tokens for 1.6x the warm-up rate; running out shows as non-2xx.
                count = max(2000, int(warm_rates[target_name] * args.duration * 1.6))
                arguments[0] = refresh_tokens(target, count)
                arguments.append(args.threads)
            measurement = wrk(args, target, path, script, arguments, args.duration)
            if script == "refresh.lua":
                Path(arguments[0]).unlink()
            entry = results[name].setdefault(target_name, {"runs": [], "rejected": []})
            (entry["runs"] if measurement.clean else entry["rejected"]).append(measurement.__dict__)
            log(
                f"{name}/{target_name} run {run + 1}: {measurement.requests_per_second:.0f}/s"
                f" p50 {measurement.latency_p50_ms}ms non-2xx {measurement.non_2xx}"
                f" socket errors {measurement.socket_errors} other load {measurement.foreign_cores} cores"
            )
    for target_name, (path, script, script_args) in live.items():
        if script == "refresh.lua":
            continue
        results[name][target_name]["command"] = shlex.join(
            wrk_command(args, by_name[target_name], path, script, ["<...>"] * len(script_args), args.duration)
        )


def profile(args, by_name: dict[str, Target], plan: dict[str, tuple], scenario: str) -> None:
    """py-spy every hub worker while wrk loads one scenario; flat top-N and a speedscope file."""
    target = by_name["hub"]
    path, script, script_args = plan[scenario]["hub"]
    arguments = list(script_args)
    if script == "refresh.lua":
        arguments[0] = refresh_tokens(target, args.warmup_refresh_tokens * 2)
        arguments.append(args.threads)
    py_spy = str(ROOT / ".venv" / "bin" / "py-spy")
    spies = []
    spy_log = open(STATE / "py-spy.log", "a")  # noqa: SIM115 - closed below
    for pid in worker_pids(target):
        out = STATE / f"profile-hub-{scenario}-{pid}.folded"
        spies.append(
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(int(args.duration)),
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    "--nonblocking",
                ],
                stdout=spy_log,
                stderr=subprocess.STDOUT,
            )
        )
    time.sleep(1)
    measurement = wrk(args, target, path, script, arguments, args.duration)
    for spy in spies:
        spy.wait(timeout=args.duration + 60)
    spy_log.close()
    if script == "refresh.lua":
        Path(arguments[0]).unlink()
    log(f"profile {scenario}/hub: {measurement.requests_per_second:.0f}/s under py-spy; files in {STATE}")


# --- Report -------------------------------------------------------------------------------


def median(entry: dict | None) -> float | None:
    if not entry or not entry.get("runs"):
        return None
    return statistics.median(run["requests_per_second"] for run in entry["runs"])


def paired_ratio(stock: dict | None, hub: dict | None) -> float | None:
    """Median of hub/stock over runs taken back to back (run i of each side)."""
    if not stock or not hub or not stock.get("runs") or not hub.get("runs"):
        return None
    if stock.get("rejected") or hub.get("rejected"):
        return None  # the pairs no longer line up
    pairs = zip(stock["runs"], hub["runs"], strict=False)
    return statistics.median(h["requests_per_second"] / s["requests_per_second"] for s, h in pairs)


def shell(command: str) -> str:
    try:
        return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except subprocess.SubprocessError:
        return "?"


def machine() -> list[str]:
    versions = shell(
        f'{PYTHON} -c "import django, oauth2_provider, oauthlib, rest_framework, gunicorn, psycopg; '
        "print('Django', django.__version__, '· django-oauth-toolkit', oauth2_provider.__version__, "
        "'· oauthlib', oauthlib.__version__, '· DRF', rest_framework.__version__, "
        "'· gunicorn', gunicorn.__version__, '· psycopg', psycopg.__version__)\""
    )
    return [
        f"- CPU: {shell('lscpu | sed -n s/^Model\\ name:\\ *//p')} · {os.cpu_count()} cores · "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM · {platform.platform()}",
        f"- Python {platform.python_version()} · {versions}",
        f"- PostgreSQL {shell('psql -h 127.0.0.1 -U postgres -Atc "show server_version"')}"
        f" · Redis {shell('redis-cli info server | sed -n s/^redis_version://p')} · {shell('wrk --version 2>&1 | head -1')}",
        f"- Hub code: the working tree at commit {shell(f'git -C {ROOT} rev-parse --short HEAD')}"
        " (other engineers' uncommitted changes included, as they stood when the servers started).",
        "- Everything on the same machine: the 2 gunicorn workers, PostgreSQL, Redis and wrk share the 2 cores,"
        " so the per-core figures are conservative for both sides alike.",
    ]


def results_file(args) -> Path:
    return STATE / ("results.json" if args.output == "RESULTS.md" else f"results-{Path(args.output).stem}.json")


def worker_class(args) -> str:
    if args.worker_threads:
        return f"gthread worker class with `--threads {args.worker_threads}` (connections kept alive)"
    return "sync worker class (a new connection per request)"


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def report(args, results: dict, command: str) -> str:
    workers = args.workers
    lines = [
        "# Single sign-on throughput: Harbourmaster vs stock django-oauth-toolkit",
        "",
        f"Recorded {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `bench/oidc/run.py`.",
        "",
        "```",
        command,
        "```",
        "",
        "## Machine",
        "",
        *machine(),
        "",
        "## Method",
        "",
        f"- gunicorn, {worker_class(args)}, `--workers {workers}` (one per core), bound to 127.0.0.1; "
        "stock on :8701, hub on :8702, both up for the whole run.",
        f"- wrk `--threads {args.threads} --connections {args.connections}`, {args.runs} runs x {args.duration:g} s "
        f"per scenario and side after a {args.warmup:g} s warm-up, runs interleaved stock/hub (order alternating). "
        "Figure = median of the runs; a run with any non-2xx answer or connect error/timeout is rejected.",
        "- Per core = total / workers. Ratio = hub median / stock median.",
        "- Stock (`bench/oidc/stock/`): startproject middleware, default `oauth2_provider.Application`, "
        "DOT `TokenView`, DOT `IntrospectTokenView`, a DRF view behind `OAuth2Authentication` + `TokenHasScope`; "
        "database `hm_bench_stock`, Redis db 10, `CONN_MAX_AGE=60`.",
        "- Hub: this checkout, `DATABASE_URL=postgres://postgres@127.0.0.1:5432/hm_bench_hub "
        "REDIS_URL=redis://127.0.0.1:6379/9 HARBOURMASTER_ENV=development DEBUG=false ALLOWED_HOSTS=127.0.0.1`; "
        "tenant rate limits at the schema maximum (1,000,000/min); set up through `tenants.services` "
        "(`bench/oidc/hub_setup.py`).",
        "- Refresh: every request spends a fresh, pre-issued refresh token (rotation is on for both; the hub also "
        "has reuse protection). Tokens are bulk-issued into the database before each run "
        "(1.6 x the warm-up rate x duration), and split between wrk threads by `lua/refresh.lua`.",
        "",
        "## Results (requests/s, medians)",
        "",
        "| scenario | stock total | stock / core | hub total | hub / core | hub / stock | hub / stock, paired runs | target / core | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    rows = [
        ("client-credentials token", "token", "token"),
        ("client-credentials token, stock with DOT-hashed secret (PBKDF2)", "token-hashed-secret", "token"),
        ("introspection (stock: bearer with `introspection` scope)", "introspect", "introspect"),
        ("introspection (stock: HTTP Basic, plain secret)", "introspect-basic-auth", "introspect"),
        ("bearer-authenticated API GET", "api", "api"),
        ("refresh-token grant (rotating)", "refresh", "refresh"),
    ]
    for label, stock_scenario, hub_scenario in rows:
        stock_median = median(results.get(stock_scenario, {}).get("stock"))
        hub_median = median(results.get(hub_scenario, {}).get("hub"))
        target = TARGETS[hub_scenario]
        ratio = f"{hub_median / stock_median:.2f}x" if stock_median and hub_median else "—"
        paired = (
            paired_ratio(results.get(stock_scenario, {}).get("stock"), results.get(hub_scenario, {}).get("hub"))
            if stock_scenario == hub_scenario
            else None
        )
        paired = f"{paired:.2f}x" if paired else "—"
        hub_per_core = hub_median / workers if hub_median else None
        met = "—" if hub_per_core is None else ("yes" if hub_per_core >= target else "no")
        lines.append(
            f"| {label} | {fmt(stock_median)} | {fmt(stock_median / workers if stock_median else None)} | "
            f"{fmt(hub_median)} | {fmt(hub_per_core)} | {ratio} | {paired} | {target:,} | {met} |"
        )
    floor = median(results.get("floor", {}).get("stock"))
    if floor:
        lines += [
            "",
            f"**Floor:** an empty Django view (stock's startproject middleware, no auth, no database, a "
            f"tiny JSON answer) served {fmt(floor)}/s in total, **{fmt(floor / workers)}/s per core**, by "
            "the same server under the same load generator on this machine: no Django view here can beat "
            "that, whatever it does.",
        ]
    lines += [
        "",
        "The issue's own stock figures per core, for comparison: "
        + ", ".join(f"{k} {v}" for k, v in ISSUE_STOCK.items())
        + ".",
        "",
    ]
    lines += [
        "## Caveats",
        "",
        "- The machine is shared: other people's test suites ran during the runs (column *other load* below). "
        "Runs are interleaved and each waits up to `--quiet-wait` s for a quiet moment, so both sides see the "
        "same noise; the paired ratio (hub run i / stock run i, taken back to back) is the steadiest figure.",
        "- The refresh tokens (both sides) and the hub's API bearer token are issued straight into the database "
        "by the setup scripts, shaped as DOT stores them; the client-credentials tokens are issued by the "
        "token endpoints under test.",
        "- Stock's hashed-secret row runs Django's default PBKDF2 (1,500,000 iterations) per request: "
        "that is DOT's default (`hash_client_secret=True`), shown for scale; the hub's HMAC-SHA256 costs nothing "
        "measurable.",
        "- The hub caches clients and client-credentials tokens in Redis (docs/decisions/0013-oauth-fast-path.md): "
        "after the first request of a run, client authentication, introspection and the API call read no SQL. "
        "Stock has no such cache. Every hub token here is opaque (the tenant's default); JWT access tokens are "
        "not benchmarked.",
        "- PostgreSQL and Redis count as the benchmark's own processes, so load that other people's test suites put "
        "on the shared PostgreSQL does not show in *other load*; it slows both sides alike.",
        "- Where the hub's time goes, and what would make it faster: [PROFILE.md](PROFILE.md).",
        "",
    ]
    lines += [
        "## Every run",
        "",
        "Other load = cores used by other processes on the machine during each run (a floor).",
        "",
        "| scenario | side | runs (req/s) | other load per run (cores) | p50 / p99 latency of the median run | rejected |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, sides in results.items():
        for side, entry in sides.items():
            if "error" in entry:
                lines.append(f"| {scenario} | {side} | not measured: {entry['error']} | | | |")
                continue
            runs = entry["runs"]
            values = ", ".join(f"{run['requests_per_second']:.0f}" for run in runs)
            middle = sorted(runs, key=lambda run: run["requests_per_second"])[len(runs) // 2] if runs else None
            latency = f"{middle['latency_p50_ms'] or '—'} / {middle['latency_p99_ms'] or '—'} ms" if middle else ""
            rejected = ", ".join(
                f"{run['requests_per_second']:.0f} ({run['non_2xx']} non-2xx)" for run in entry["rejected"]
            )
            load = ", ".join(f"{run['foreign_cores']:.2f}" for run in runs)
            lines.append(f"| {scenario} | {side} | {values} | {load} | {latency} | {rejected} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up per scenario and side")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="gunicorn workers (one per core)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--worker-threads", type=int, default=0, help="gunicorn gthread threads per worker (0: sync workers)"
    )
    parser.add_argument("--output", default="RESULTS.md", help="file under bench/oidc/ to write the report to")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--quiet-wait", type=float, default=15, help="max seconds to wait for other load to pause")
    parser.add_argument("--warmup-refresh-tokens", type=int, default=15000)
    parser.add_argument(
        "--scenarios", default="token,token-hashed-secret,introspect,introspect-basic-auth,api,refresh,floor"
    )
    parser.add_argument("--sides", default="stock,hub")
    parser.add_argument("--profile", default="", help="hub scenarios to profile with py-spy after measuring")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--report-only", action="store_true", help="re-render RESULTS.md from .state/results.json")
    parser.add_argument("--skip-setup", action="store_true", help="reuse the databases of the last run")
    args = parser.parse_args()
    command = shlex.join([".venv/bin/python", "bench/oidc/run.py", *(a for a in sys.argv[1:] if a != "--report-only")])
    if args.report_only:
        text = report(args, json.loads(results_file(args).read_text()), command)
        (HERE / args.output).write_text(text)
        print(text)
        return

    STATE.mkdir(exist_ok=True)
    by_name = {name: target for name, target in targets().items() if name in args.sides.split(",")}
    results: dict[str, dict] = {}
    try:
        for target in by_name.values():
            if args.skip_setup:
                target.state = json.loads((STATE / f"{target.name}.json").read_text())
            else:
                setup(target)
            serve(target, args.workers, args.worker_threads)
        plans = _plans(by_name)
        for name in args.scenarios.split(","):
            plan = {side: spec for side, spec in plans[name].items() if side in by_name}
            if plan:
                results[name] = {}
                measure_scenario(args, name, plan, by_name, results)
        for scenario in filter(None, args.profile.split(",")):
            profile(args, by_name, plans, scenario)
    finally:
        for target in by_name.values():
            stop(target)
    results_file(args).write_text(json.dumps(results, indent=2))
    text = report(args, results, command)
    print(text)
    if not args.no_write:
        (HERE / args.output).write_text(text)


def _plans(by_name: dict[str, Target]) -> dict:
    """Every scenario; a side not loaded (``--sides``, for trying things out) gets placeholders."""
    placeholder = {
        "token_plain": {"client_id": "", "client_secret": ""},
        "token_hashed": {"client_id": "", "client_secret": ""},
        "token": {"client_id": "", "client_secret": ""},
        "introspector": {"client_id": "", "client_secret": "", "bearer": ""},
        "refresh_client": {"client_id": "", "client_secret": ""},
        "api_token": "",
    }
    stock = by_name["stock"].state if "stock" in by_name else placeholder
    hub = by_name["hub"].state if "hub" in by_name else placeholder
    return scenarios(stock, hub)


if __name__ == "__main__":
    main()
