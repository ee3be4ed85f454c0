"""Load 1,000,000 users, 10 tenants and their consents into a fresh bench database.

    .venv/bin/python bench/data/generate.py [--users 1000000]

Drops and creates ``hm_bench_data``, migrates it, creates the tenants, clients and
purposes through the services, then COPYs the users and their consents (psycopg 3).
User i lives at tenant i % 10 and consents to its newsletter and postal marketing;
every user also consents to tenant 0's newsletter (``--t0-share 2``: every other user),
so that it has 1,000,000 consenting users (the export's target, issue 6).
"""

import argparse
import subprocess
import sys
import time
import uuid

import psycopg
from common import ADMIN_URL, DATABASE, DATABASE_URL, ROOT, TENANTS, django_setup
from psycopg import sql

USER_COLUMNS = (
    "password, is_superuser, uuid, kind, email, email_verified, phone_number_verified, given_name, family_name, "
    "middle_name, nickname, preferred_username, gender, zoneinfo, locale, picture, website, profile, address_street, "
    "address_locality, address_region, address_postal_code, address_country, is_staff, is_active, date_joined, updated_at"
)
COUNTRIES = ("DE", "AT", "CH", "FR", "NL")
CHUNK = 20_000


def database_create() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DATABASE)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    env = {"DATABASE_URL": DATABASE_URL, "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def tenants_create() -> list:
    """Ten tenants, each with a backend client and two purposes, through the services."""
    from consents.services import purpose_create
    from harbourmaster.actors import Actor
    from tenants.services import client_create, tenant_create

    actor, made = Actor.system("bench"), []
    config = {
        "allowed_scopes": ["openid", "profile", "email", "address"],
        "rate_limits": {"tenant_per_minute": 1_000_000, "client_per_minute": 1_000_000},
    }
    for index in range(TENANTS):
        tenant = tenant_create(
            actor=actor, slug=f"t{index}", name=f"Tenant {index}", contact_email=f"ops@t{index}.example", config=config
        )
        client_create(
            actor=actor,
            tenant=tenant,
            name=f"t{index} backend",
            client_type="confidential",
            grant_type="client-credentials",
            allowed_scopes=["users:read", "users:write", "consents:write"],
        )
        newsletter = purpose_create(
            actor=actor,
            tenant=tenant,
            slug="newsletter",
            name="Newsletter",
            statement="News.",
            data_categories=["email"],
        )
        postal = purpose_create(
            actor=actor,
            tenant=tenant,
            slug="postal-marketing",
            name="Post",
            statement="Post.",
            data_categories=["profile", "address"],
        )
        made.append((tenant, newsletter, postal))
    return made


def _user_line(n: int) -> str:
    country = COUNTRIES[n % len(COUNTRIES)]
    return (
        f"!\tf\t{uuid.uuid4()}\tregistered\tbench{n}@example.org\t{'t' if n % 3 else 'f'}\tf\tGiven{n}\tFamily{n % 5000}"
        f"\t\t\t\t\tEurope/Berlin\tde-DE\t\t\t\tStreet {n}\tCity {n % 900}\t\t{10000 + n % 90000}\t{country}\tf\tt"
        "\t2025-01-01 00:00:00+00\t2025-01-01 00:00:00+00\n"
    )


def _text_columns_to_fill(connection) -> list[str]:
    """Text columns a later migration made NOT NULL without a default: loaded empty."""
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts_user' "
        "AND is_nullable = 'NO' AND column_default IS NULL AND data_type IN ('character varying', 'text')"
    )
    named = {name.strip() for name in USER_COLUMNS.split(",")}
    return [name for (name,) in rows if name not in named]


def users_copy(connection, count: int) -> None:
    extra = _text_columns_to_fill(connection)
    columns = ", ".join([USER_COLUMNS, *extra])
    empty = "\t" * len(extra)
    with connection.cursor() as cursor, cursor.copy(f"COPY accounts_user ({columns}) FROM STDIN") as copy:
        for start in range(0, count, CHUNK):
            lines = (_user_line(n) for n in range(start, min(start + CHUNK, count)))
            copy.write("".join(line[:-1] + empty + "\n" for line in lines))


def consents_copy(connection, made: list, t0_share: int) -> int:
    """User i consents to its home tenant's two purposes; every ``t0_share``-th user to t0's newsletter too."""
    user_ids = [
        row[0] for row in connection.execute("SELECT id FROM accounts_user WHERE email LIKE 'bench%%' ORDER BY id")
    ]
    purposes = [
        (tenant.pk, newsletter.pk, newsletter.versions.get().pk, postal.pk, postal.versions.get().pk)
        for tenant, newsletter, postal in made
    ]
    stamp = "2025-02-01 00:00:00+00"
    copied = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY consents_consent (tenant_id, user_id, purpose_id, state, version_id, granted_at, updated_at) FROM STDIN"
        ) as copy,
    ):
        for start in range(0, len(user_ids), CHUNK):
            lines = []
            for n in range(start, min(start + CHUNK, len(user_ids))):
                tenant, newsletter, newsletter_v, postal, postal_v = purposes[n % TENANTS]
                user = user_ids[n]
                lines.append(f"{tenant}\t{user}\t{newsletter}\tgranted\t{newsletter_v}\t{stamp}\t{stamp}\n")
                lines.append(f"{tenant}\t{user}\t{postal}\tgranted\t{postal_v}\t{stamp}\t{stamp}\n")
                if n % t0_share == 0 and n % TENANTS:
                    t0, t0_newsletter, t0_version = purposes[0][:3]
                    lines.append(f"{t0}\t{user}\t{t0_newsletter}\tgranted\t{t0_version}\t{stamp}\t{stamp}\n")
            copied += len(lines)
            copy.write("".join(lines))
    return copied


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--t0-share", type=int, default=1, help="every Nth user consents to t0's newsletter")
    args = parser.parse_args()
    count = args.users
    began = time.perf_counter()
    database_create()
    migrated = time.perf_counter()
    django_setup()
    made = tenants_create()
    with psycopg.connect(DATABASE_URL) as connection:
        users_copy(connection, count)
        users_done = time.perf_counter()
        consents = consents_copy(connection, made, args.t0_share)
    consents_done = time.perf_counter()
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    print(
        f"migrate {migrated - began:.1f}s; {count} users COPY {users_done - migrated:.1f}s; "
        f"{consents} consents COPY {consents_done - users_done:.1f}s; vacuum analyze {time.perf_counter() - consents_done:.1f}s"
    )


if __name__ == "__main__":
    main()
