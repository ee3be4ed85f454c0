"""Shared by the data benchmarks: the bench database, Django on it, timing helpers."""

import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE", "hm_bench_data")
DATABASE_URL = ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
TENANTS = 10


def django_setup(**environment: str) -> None:
    """Django on the bench database (call before importing models)."""
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DEBUG", "false")
    os.environ.update(environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harbourmaster.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p99": p99, "min": ordered[0], "max": ordered[-1], "n": len(ordered)}


def gunicorn_command(port: int) -> list[str]:
    """The hub as the data benchmarks serve it: two sync workers, long requests allowed."""
    return [
        *(sys.executable, "-m", "gunicorn", "harbourmaster.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"),
        *("--timeout", "600", "--log-level", "warning"),
    ]


# One Celery worker process taking one task at a time (imports run in it).
CELERY_WORKER_COMMAND = [
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
