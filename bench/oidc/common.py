"""Helpers shared by the two setup scripts; imports nothing from either project."""

import hashlib
import json
import sys
from pathlib import Path

import psycopg
from oauthlib.common import generate_token

STATE_DIR = Path(__file__).resolve().parent / ".state"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_recreate(name: str) -> None:
    """Drop and create a benchmark database, so every run starts from the same empty state."""
    if not name.startswith("hm_bench_"):
        raise SystemExit(f"refusing to drop {name!r}: benchmark databases are named hm_bench_*")
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def redis_flush(url: str) -> None:
    """Empty the benchmark's own Redis database (rate-limit windows, cached configs)."""
    import redis

    if url.rstrip("/").rsplit("/", 1)[-1] not in {"9", "10"}:
        raise SystemExit(f"refusing to flush {url}: the benchmark owns Redis databases 9 and 10")
    redis.Redis.from_url(url).flushdb()


def state_write(name: str, state: dict) -> Path:
    STATE_DIR.mkdir(exist_ok=True)
    path = STATE_DIR / f"{name}.json"
    path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return path


def refresh_tokens_issue(*, count: int, user, application, scope: str, out: str, expires, family=None) -> None:
    """Pre-issue ``count`` access+refresh token pairs the way DOT stores them, one refresh
    token a line in ``out``: rotation spends each refresh token on its first use.
    ``family`` names each token's family (DOT: uuid4; the hub: a time-ordered uuid7)."""
    import uuid

    family = family or uuid.uuid4

    from oauth2_provider.models import get_access_token_model, get_refresh_token_model, set_token_value

    access_model, refresh_model = get_access_token_model(), get_refresh_token_model()
    raw_refresh = [generate_token() for _ in range(count)]
    access_tokens = []
    for _ in range(count):
        access = access_model(user=user, application=application, scope=scope, expires=expires)
        raw = generate_token()
        set_token_value(access, raw)
        access.token_checksum = hashlib.sha256(raw.encode()).hexdigest()
        access_tokens.append(access)
    access_tokens = access_model.objects.bulk_create(access_tokens, batch_size=2000)
    refresh_tokens = []
    for raw, access in zip(raw_refresh, access_tokens, strict=True):
        refresh = refresh_model(user=user, application=application, access_token=access, token_family=family())
        set_token_value(refresh, raw)
        refresh.token_checksum = hashlib.sha256(raw.encode()).hexdigest()
        refresh_tokens.append(refresh)
    refresh_model.objects.bulk_create(refresh_tokens, batch_size=2000)
    Path(out).write_text("\n".join(raw_refresh) + "\n", encoding="utf-8")


def access_token_issue(*, application, scope: str, expires, user=None) -> str:
    from oauth2_provider.models import get_access_token_model, set_token_value

    access = get_access_token_model()(user=user, application=application, scope=scope, expires=expires)
    raw = generate_token()
    set_token_value(access, raw)
    access.save()
    return raw


def main_dispatch(setup, refresh, argv=None) -> None:
    """``setup`` (default) or ``refresh-tokens COUNT OUT``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] == "setup":
        setup()
    elif argv[0] == "refresh-tokens":
        refresh(int(argv[1]), argv[2])
    else:
        raise SystemExit(f"usage: {sys.argv[0]} [setup | refresh-tokens COUNT OUT]")
