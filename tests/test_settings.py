"""Settings read from the environment: production insists, bad values fail loudly and by name.

Settings are read once per process, so each case boots Django in a subprocess with an
environment made for it.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from harbourmaster.env import envbool, envint, envlist, envstr

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_KEY = "k" * 20 + "production-test-key-that-is-long-enough-0123456789"
# Where production sends codes: a real SMS gateway and a real mail server.
DELIVERY = {"SMS_BACKEND": "http", "SMS_GATEWAY_URL": "https://sms.example.org/send", "EMAIL_HOST": "smtp.example.org"}
PRODUCTION = {"HARBOURMASTER_ENV": "production", "SECRET_KEY": PRODUCTION_KEY, "ALLOWED_HOSTS": "hub.example.org"}
SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG, "PRODUCTION": s.PRODUCTION, "SECRET_KEY": s.SECRET_KEY, "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "DATABASE_ENGINE": s.DATABASES["default"]["ENGINE"], "DATABASE_NAME": str(s.DATABASES["default"]["NAME"]),
    "CACHE": s.CACHES["default"]["BACKEND"], "EAGER": s.CELERY_TASK_ALWAYS_EAGER,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE, "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SMS_BACKEND": s.SMS_BACKEND, "MAIL_BACKEND": s.MAILERS["default"]["BACKEND"],
    "TRUSTED_PROXY_COUNT": s.ALLAUTH_TRUSTED_PROXY_COUNT,
}))
"""


def boot(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    """Start Django with only these variables (and a private var/ directory) set."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env |= {"DJANGO_SETTINGS_MODULE": "harbourmaster.settings", "HARBOURMASTER_VAR_DIR": str(tmp_path / "var")}
    env |= variables
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def settings_of(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refusal_of(result: subprocess.CompletedProcess) -> str:
    """The ImproperlyConfigured line a failed start ends with."""
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    return last_line.removeprefix("django.core.exceptions.ImproperlyConfigured: ")


# --- Production refuses to start half-configured ------------------------------------------------


def test_production_without_secret_key_names_it(tmp_path):
    result = boot(tmp_path, HARBOURMASTER_ENV="production", ALLOWED_HOSTS="hub.example.org")

    assert refusal_of(result) == "Production settings are missing: SECRET_KEY"


def test_production_without_allowed_hosts_names_it(tmp_path):
    result = boot(tmp_path, HARBOURMASTER_ENV="production", SECRET_KEY=PRODUCTION_KEY)

    assert refusal_of(result) == "Production settings are missing: ALLOWED_HOSTS"


def test_production_without_either_names_both(tmp_path):
    result = boot(tmp_path, HARBOURMASTER_ENV="production", ALLOWED_HOSTS=" , ")

    assert refusal_of(result) == "Production settings are missing: SECRET_KEY, ALLOWED_HOSTS"


def test_production_refuses_a_short_secret_key(tmp_path):
    result = boot(tmp_path, HARBOURMASTER_ENV="production", SECRET_KEY="short", ALLOWED_HOSTS="hub.example.org")

    assert "SECRET_KEY must be at least 50 characters" in refusal_of(result)


def test_production_with_both_starts_secure_and_without_debug(tmp_path):
    result = boot(tmp_path, **PRODUCTION, **DELIVERY)

    settings = settings_of(result)
    assert settings["PRODUCTION"] is True
    assert settings["DEBUG"] is False
    assert settings["ALLOWED_HOSTS"] == ["hub.example.org"]
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert not (tmp_path / "var" / "secret_key").exists()  # production never invents a key
    assert settings["SMS_BACKEND"] == "http"
    assert settings["MAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"


# --- Production never writes sign-in codes to the log -------------------------------------------


def test_production_without_an_sms_backend_names_it(tmp_path):
    result = boot(tmp_path, **PRODUCTION, EMAIL_HOST="smtp.example.org")

    assert refusal_of(result) == "Production settings are missing: SMS_BACKEND (http, a gateway class, or disabled)"


@pytest.mark.parametrize("backend", ["console", "accounts.sms.backends.ConsoleAndFileBackend"])
def test_production_refuses_the_console_sms_backend(tmp_path, backend):
    result = boot(tmp_path, **PRODUCTION, **(DELIVERY | {"SMS_BACKEND": backend}))

    assert refusal_of(result) == (
        f"SMS_BACKEND={backend!r} writes sign-in codes to the log: in production use http, a gateway class, or disabled"
    )


def test_production_without_a_mail_server_names_it(tmp_path):
    result = boot(tmp_path, **PRODUCTION, SMS_BACKEND="disabled")

    assert refusal_of(result) == "Production settings are missing: EMAIL_HOST (else mail, codes included, is logged)"


def test_production_starts_with_sms_disabled(tmp_path):
    settings = settings_of(boot(tmp_path, **PRODUCTION, **(DELIVERY | {"SMS_BACKEND": "disabled"})))

    assert settings["PRODUCTION"] is True
    assert settings["SMS_BACKEND"] == "disabled"


def test_an_unknown_environment_name_is_refused(tmp_path):
    result = boot(tmp_path, HARBOURMASTER_ENV="staging")

    assert refusal_of(result) == "HARBOURMASTER_ENV='staging': use development or production"


# --- The embedded default -----------------------------------------------------------------------------


def test_no_environment_gives_the_embedded_default(tmp_path):
    settings = settings_of(boot(tmp_path))

    assert settings["PRODUCTION"] is False
    assert settings["DEBUG"] is True
    assert settings["DATABASE_ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASE_NAME"] == str(tmp_path / "var" / "harbourmaster.sqlite3")
    assert settings["CACHE"] == "django.core.cache.backends.locmem.LocMemCache"
    assert settings["EAGER"] is True
    assert settings["SMS_BACKEND"] == "console"  # development reads codes from the console
    assert settings["MAIL_BACKEND"] == "harbourmaster.mail.ConsoleAndFileBackend"
    key_file = tmp_path / "var" / "secret_key"
    assert settings["SECRET_KEY"] == key_file.read_text().strip()
    assert settings_of(boot(tmp_path))["SECRET_KEY"] == settings["SECRET_KEY"]  # kept across restarts


def test_database_and_redis_urls_select_postgres_and_redis(tmp_path):
    settings = settings_of(
        boot(tmp_path, DATABASE_URL="postgres://hub@db.internal:5432/hub", REDIS_URL="redis://cache.internal:6379/0")
    )

    assert settings["DATABASE_ENGINE"] == "harbourmaster.db.postgresql"  # Django's, decision 28
    assert settings["DATABASE_NAME"] == "hub"
    assert settings["CACHE"] == "harbourmaster.cache.HubRedisCache"
    assert settings["EAGER"] is False


# --- Garbage in the environment fails loudly, naming the variable -----------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean (use true or false)"),
        ("SECURE_HSTS_SECONDS", "a year", "SECURE_HSTS_SECONDS='a year' is not a whole number"),
        ("DATABASE_CONN_MAX_AGE", "60s", "DATABASE_CONN_MAX_AGE='60s' is not a whole number"),
    ],
)
def test_settings_refuse_garbage_by_name(tmp_path, variable, value, message):
    extra = {"DATABASE_URL": "postgres://hub@db.internal/hub"} if variable == "DATABASE_CONN_MAX_AGE" else {}

    result = boot(tmp_path, **{variable: value}, **extra)

    assert refusal_of(result) == message


@pytest.mark.parametrize("value", ["1", "true", "Yes", " on "])
def test_envbool_reads_true(monkeypatch, value):
    monkeypatch.setenv("HM_TEST_FLAG", value)
    assert envbool("HM_TEST_FLAG", default=False) is True


@pytest.mark.parametrize("value", ["0", "false", "No", "off", ""])
def test_envbool_reads_false(monkeypatch, value):
    monkeypatch.setenv("HM_TEST_FLAG", value)
    assert envbool("HM_TEST_FLAG", default=True) is False


@pytest.mark.parametrize("value", ["maybe", "2", "y", "enabled"])
def test_envbool_rejects_garbage(monkeypatch, value):
    monkeypatch.setenv("HM_TEST_FLAG", value)
    with pytest.raises(ImproperlyConfigured, match=r"^HM_TEST_FLAG=.* is not a boolean \(use true or false\)$"):
        envbool("HM_TEST_FLAG", default=False)


def test_env_readers_fall_back_to_their_defaults(monkeypatch):
    monkeypatch.delenv("HM_TEST_VALUE", raising=False)
    assert envbool("HM_TEST_VALUE", default=True) is True
    assert envint("HM_TEST_VALUE", 42) == 42
    assert envstr("HM_TEST_VALUE", "fallback") == "fallback"
    assert envlist("HM_TEST_VALUE", ["a"]) == ["a"]


@pytest.mark.parametrize("value", ["ten", "1.5", "", "12abc"])
def test_envint_rejects_garbage(monkeypatch, value):
    monkeypatch.setenv("HM_TEST_NUMBER", value)
    with pytest.raises(ImproperlyConfigured, match=r"^HM_TEST_NUMBER=.* is not a whole number$"):
        envint("HM_TEST_NUMBER", 1)


def test_envint_reads_a_number(monkeypatch):
    monkeypatch.setenv("HM_TEST_NUMBER", " 300 ")
    assert envint("HM_TEST_NUMBER", 1) == 300


def test_envlist_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("HM_TEST_LIST", "hub.example.org, ,api.example.org,")
    assert envlist("HM_TEST_LIST") == ["hub.example.org", "api.example.org"]


# --- Secrets from files (Kubernetes and Docker secrets) -----------------------------------------------


def test_name_file_is_read_and_wins_over_the_plain_variable(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file\n")
    monkeypatch.setenv("HM_TEST_SECRET", "from-the-environment")
    monkeypatch.setenv("HM_TEST_SECRET_FILE", str(secret_file))

    assert envstr("HM_TEST_SECRET") == "from-the-file"


def test_an_unreadable_name_file_is_refused_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("HM_TEST_SECRET_FILE", str(tmp_path / "missing"))

    with pytest.raises(ImproperlyConfigured, match=r"^HM_TEST_SECRET_FILE='.*missing' cannot be read: "):
        envstr("HM_TEST_SECRET")


def test_production_reads_secret_key_and_hosts_from_files(tmp_path):
    key_file, hosts_file = tmp_path / "secret_key", tmp_path / "allowed_hosts"
    key_file.write_text(PRODUCTION_KEY + "\n")
    hosts_file.write_text("hub.example.org,api.example.org\n")

    result = boot(
        tmp_path,
        HARBOURMASTER_ENV="production",
        SECRET_KEY_FILE=str(key_file),
        ALLOWED_HOSTS_FILE=str(hosts_file),
        **DELIVERY,
    )

    settings = settings_of(result)
    assert settings["SECRET_KEY"] == PRODUCTION_KEY
    assert settings["ALLOWED_HOSTS"] == ["hub.example.org", "api.example.org"]


# --- What operators and newcomers read stays complete ------------------------------------------------


def test_every_environment_variable_settings_read_is_documented():
    source = (ROOT / "harbourmaster" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r"\benv(?:str|bool|int|list)\(\s*\"([A-Z0-9_]+)\"", source))
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")

    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= read  # the pattern still finds them
    assert sorted(name for name in read if f"`{name}`" not in operations) == []


def test_every_pinned_dependency_is_explained_in_the_readme():
    pinned = set()
    for requirements in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / requirements).read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-"):
                pinned.add(re.split(r"[=<>~!;\s]", line)[0])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table_rows = {row.split("|")[1].strip() for row in readme.splitlines() if row.startswith("| ")}

    assert "Django" in pinned
    assert sorted(pinned - table_rows) == []


def test_the_proxy_count_reaches_the_sign_in_limits(tmp_path):
    assert settings_of(boot(tmp_path))["TRUSTED_PROXY_COUNT"] == 0
    assert settings_of(boot(tmp_path, TRUSTED_PROXY_COUNT="2"))["TRUSTED_PROXY_COUNT"] == 2
