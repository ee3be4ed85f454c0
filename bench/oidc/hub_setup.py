"""Set up Harbourmaster itself for the benchmark, through its services (no management command).

Environment (run.py sets it; see HUB_ENV there):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hm_bench_hub REDIS_URL=redis://127.0.0.1:6379/9
    HARBOURMASTER_ENV=development DEBUG=false ALLOWED_HOSTS=127.0.0.1

    .venv/bin/python bench/oidc/hub_setup.py                  # writes bench/oidc/.state/hub.json
    .venv/bin/python bench/oidc/hub_setup.py refresh-tokens 20000 /tmp/tokens.txt
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]  # common, and the project root
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harbourmaster.settings")

import django  # noqa: E402

django.setup()

import common  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.services import user_register  # noqa: E402
from harbourmaster.actors import Actor  # noqa: E402
from tenants import services  # noqa: E402
from tenants.models import Client, Tenant  # noqa: E402

ACTOR = Actor.system("bench")
TENANT = "bench"
USER_EMAIL = "bench-user@example.org"
SIGN_IN_SCOPE = "openid profile"
RATE_LIMITS = {"tenant_per_minute": 1_000_000, "client_per_minute": 1_000_000}  # the schema's maximum


def _client(tenant: Tenant, name: str, grant: str, scopes: list[str], **extra) -> tuple[Client, str]:
    return services.client_create(
        actor=ACTOR,
        tenant=tenant,
        name=name,
        client_type=Client.CLIENT_CONFIDENTIAL,
        grant_type=grant,
        allowed_scopes=scopes,
        **extra,
    )


def setup() -> None:
    database = settings.DATABASES["default"]["NAME"]
    common.database_recreate(database)
    common.redis_flush(os.environ["REDIS_URL"])
    call_command("migrate", verbosity=0)
    tenant = services.tenant_create(actor=ACTOR, slug=TENANT, name="Bench", contact_email="bench@example.org")
    services.tenant_config_update(actor=ACTOR, tenant=tenant, config={"rate_limits": RATE_LIMITS}, partial=True)
    cc = Client.GRANT_CLIENT_CREDENTIALS
    machine, machine_secret = _client(tenant, "bench-cc", cc, ["tenant:admin"])
    resource_server, rs_secret = _client(tenant, "bench-resource-server", cc, ["tenant:admin"])
    sign_in, sign_in_secret = _client(
        tenant,
        "bench-sign-in",
        Client.GRANT_AUTHORIZATION_CODE,
        ["openid", "profile"],
        redirect_uris=["https://rp.example/callback"],
    )
    user_register(actor=ACTOR, email=USER_EMAIL, tenant=tenant)
    expires = timezone.now() + timedelta(days=2)
    state = {
        "token": {"client_id": machine.client_id, "client_secret": machine_secret, "scope": "tenant:admin"},
        "introspector": {"client_id": resource_server.client_id, "client_secret": rs_secret},
        # Issued in the database, so the API scenario does not depend on the token endpoint.
        "api_token": common.access_token_issue(application=machine, scope="tenant:admin", expires=expires),
        "refresh_client": {"client_id": sign_in.client_id, "client_secret": sign_in_secret},
    }
    print(common.state_write("hub", state))


def refresh(count: int, out: str) -> None:
    from accounts.models import User
    from accounts.oidc.validators import token_family_new

    common.refresh_tokens_issue(
        count=count,
        user=User.objects.get(email=USER_EMAIL),
        application=Client.objects.get(name="bench-sign-in", tenant__slug=TENANT),
        scope=SIGN_IN_SCOPE,
        out=out,
        expires=timezone.now() + timedelta(hours=1),
        family=token_family_new,  # as the hub names a family it starts (accounts.oidc.validators)
    )


if __name__ == "__main__":
    common.main_dispatch(setup, refresh)
