"""Set up the stock django-oauth-toolkit baseline: fresh database, clients, user, tokens.

.venv/bin/python bench/oidc/stock/setup.py                 # writes bench/oidc/.state/stock.json
.venv/bin/python bench/oidc/stock/setup.py refresh-tokens 20000 /tmp/tokens.txt
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bench/oidc: the stock package and common
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stock.settings")

import django  # noqa: E402

django.setup()

import common  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402
from oauthlib.common import generate_token  # noqa: E402

USERNAME = "bench-user"
REFRESH_CLIENT = "stock-refresh"


def _application(name: str, grant: str, *, hashed: bool, **extra) -> tuple[Application, str]:
    secret = generate_token(48)
    application = Application(
        name=name,
        client_id=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=grant,
        client_secret=secret,
        hash_client_secret=hashed,
        **extra,
    )
    application.save()  # DOT's ClientSecretField hashes here when hash_client_secret
    return application, secret


def setup() -> None:
    common.database_recreate(settings.DATABASES["default"]["NAME"])
    common.redis_flush(settings.CACHES["default"]["LOCATION"])
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(USERNAME, password=generate_token())
    cc = Application.GRANT_CLIENT_CREDENTIALS
    plain, plain_secret = _application("stock-cc-plain", cc, hashed=False)
    hashed, hashed_secret = _application("stock-cc-hashed", cc, hashed=True)
    resource_server, rs_secret = _application("stock-resource-server", cc, hashed=False)
    _, refresh_secret = _application(
        REFRESH_CLIENT,
        Application.GRANT_AUTHORIZATION_CODE,
        hashed=False,
        user=user,
        redirect_uris="https://rp.example/callback",
    )
    expires = timezone.now() + timedelta(days=2)
    state = {
        "token_plain": {"client_id": plain.client_id, "client_secret": plain_secret, "scope": "read"},
        "token_hashed": {"client_id": hashed.client_id, "client_secret": hashed_secret, "scope": "read"},
        "introspector": {
            "client_id": resource_server.client_id,
            "client_secret": rs_secret,
            # DOT's documented way: the resource server holds a token with scope "introspection".
            "bearer": common.access_token_issue(application=resource_server, scope="introspection", expires=expires),
        },
        "api_token": common.access_token_issue(application=plain, scope="read", expires=expires),
        "refresh_client": {"client_id": REFRESH_CLIENT, "client_secret": refresh_secret},
    }
    print(common.state_write("stock", state))


def refresh(count: int, out: str) -> None:
    common.refresh_tokens_issue(
        count=count,
        user=get_user_model().objects.get(username=USERNAME),
        application=Application.objects.get(client_id=REFRESH_CLIENT),
        scope="read",
        out=out,
        expires=timezone.now() + timedelta(hours=1),
    )


if __name__ == "__main__":
    common.main_dispatch(setup, refresh)
