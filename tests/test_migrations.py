"""Migrations build a working schema from nothing, and the models have none left unwritten.

On PostgreSQL (DATABASE_URL set) a brand-new database is created, migrated in a
subprocess, inspected and dropped; on SQLite a fresh file plays that part.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.apps import apps
from django.db import connection
from psycopg import sql

from harbourmaster.records import AppendOnlyModel

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, database_url: str, var_dir: Path) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")}
    env |= {"DATABASE_URL": database_url, "HARBOURMASTER_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def assert_migrates_from_nothing(database_url: str, var_dir: Path) -> None:
    migrate = manage("migrate", "--noinput", database_url=database_url, var_dir=var_dir)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    plan = manage("showmigrations", "--plan", database_url=database_url, var_dir=var_dir)
    assert plan.returncode == 0, plan.stderr
    applied = [line for line in plan.stdout.splitlines() if line.startswith("[X]")]
    unapplied = [line for line in plan.stdout.splitlines() if line.startswith("[ ]")]
    assert unapplied == []
    assert any("accounts.0001_initial" in line for line in applied)


def append_only_tables() -> set[str]:
    return {
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, AppendOnlyModel) and not model._meta.proxy and model._meta.managed
    }


# --- PostgreSQL ---------------------------------------------------------------------------------


def with_database_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def empty_postgres_database():
    """A brand-new database on the server DATABASE_URL names; dropped afterwards."""
    server_url = with_database_name(os.environ["DATABASE_URL"], "postgres")
    name = f"hm_migrations_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database_name(os.environ["DATABASE_URL"], name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="DATABASE_URL is not PostgreSQL")
def test_migrations_build_an_empty_postgres_database_with_append_only_triggers(empty_postgres_database, tmp_path):
    assert_migrates_from_nothing(empty_postgres_database, tmp_path)

    with psycopg.connect(empty_postgres_database) as database:
        rows = database.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgname LIKE '%\\_append\\_only'"
        ).fetchall()
    assert {table for table, _ in rows} == append_only_tables()
    assert all(trigger == f"{table}_append_only" for table, trigger in rows)


# --- SQLite ---------------------------------------------------------------------------------------


def test_migrations_build_an_empty_sqlite_database(tmp_path):
    # The embedded default's database, whatever the tests themselves run on.
    database_file = tmp_path / "fresh.sqlite3"

    assert_migrates_from_nothing(f"sqlite:///{database_file}", tmp_path)

    assert database_file.stat().st_size > 0


# --- Either ---------------------------------------------------------------------------------------


def test_every_append_only_model_is_known_to_the_trigger_check():
    assert append_only_tables() >= {"consents_consentrecord", "audit_accessrecord", "events_event"}


def test_models_have_no_changes_missing_a_migration(tmp_path):
    # Detecting changes compares models with migration files; a scratch database suffices.
    scratch = f"sqlite:///{tmp_path / 'scratch.sqlite3'}"

    result = manage("makemigrations", "--check", "--dry-run", database_url=scratch, var_dir=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
