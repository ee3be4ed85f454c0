"""OpenID Connect Back-Channel Logout 1.0: each client hears when a hub session ends.

At the token endpoint the validator records which clients got an ID token in which hub
session (``ClientSession``, only for clients with a ``backchannel_logout_uri``). When the
session ends — Django's ``user_logged_out``, sent by the /o/logout/ endpoint, allauth's
sign-out and the admin's alike — every such client is sent a logout token from a Celery
task (``accounts.oidc.tasks``), retried while the client cannot be reached. Decision 19.
When the user's every session ends at once — the account deactivated or deleted, or
staff signing the user out everywhere — ``user_sessions_logout_announce`` does the same
for each of them (decision 21).
"""

import logging
import time
import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import receiver
from django.utils import timezone
from jwcrypto import jwt
from oauth2_provider.settings import oauth2_settings

from accounts.models import User
from accounts.oidc.claims import HUB_SESSION_ID_KEY, session_id_for, subject_for
from harbourmaster import outbound
from harbourmaster.actors import Actor
from tenants.keys import signing_key_current
from tenants.models import Client, ClientSession, backchannel_logout_uri_is_development_loopback

logger = logging.getLogger(__name__)

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_SECONDS = 120
# A client that is slow to answer is retried later, not waited for: 3 s to connect, and
# 8 s for the whole delivery (connecting, TLS, sending, the answer's status and headers).
DELIVERY_CONNECT_SECONDS = 3
DELIVERY_DEADLINE_SECONDS = 8
# Worth asking again: the client may be back. Any other answer is the client's last word.
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class LogoutDeliveryFailed(Exception):
    """The client could not be reached or was not ready; asking again may work."""


# --- Which clients a session signed in to -------------------------------------------------


def client_session_record(*, hub_session_id: str | None, client: Client, user_id: int) -> None:
    """Remember that ``client`` got an ID token in this hub session, if it wants to hear of its end."""
    if not hub_session_id or not client.backchannel_logout_uri:
        return
    ClientSession.objects.bulk_create(
        [ClientSession(hub_session_id=hub_session_id, client_id=client.pk, user_id=user_id)],
        update_conflicts=True,
        unique_fields=["hub_session_id", "client"],
        update_fields=["signed_in_at"],
    )


def client_sessions_prune() -> int:
    """Forget sessions that ended without a sign-out: none outlives the session cookie."""
    cutoff = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    deleted, _ = ClientSession.objects.filter(signed_in_at__lt=cutoff).delete()
    return deleted


# --- The session ends ------------------------------------------------------------------


def _listens(client: Client) -> bool:
    return bool(client.backchannel_logout_uri) and not client.is_disabled and client.tenant.is_active


def _sessions_end(*, actor: Actor, user: User, sessions: QuerySet[ClientSession], issuer: str) -> int:
    """Forget ``sessions`` (ClientSession rows, locked here) and queue a logout token for
    each client that still listens, after commit."""
    ended = list(sessions.select_for_update(of=("self",)).filter(user=user).select_related("client__tenant"))
    ClientSession.objects.filter(pk__in=[session.pk for session in ended]).delete()
    from accounts.oidc.tasks import backchannel_logout_send  # the task module imports this one

    queued = 0
    for session in ended:
        client = session.client
        if not _listens(client):
            continue
        subject = subject_for(user=user, tenant=client.tenant)
        sid = session_id_for(hub_session_id=session.hub_session_id, tenant=client.tenant)
        send = partial(backchannel_logout_send.delay, client.pk, subject, sid, issuer)
        transaction.on_commit(send, robust=True)
        queued += 1
    if queued:
        logger.info("back-channel logout queued for %d client(s) by %s", queued, actor)
    return queued


@transaction.atomic
def session_logout_announce(*, actor: Actor, user: User, hub_session_id: str, issuer: str) -> int:
    """Queue a logout token for each client this hub session signed in to; forget the session.

    Returns how many were queued. The tokens go out after commit; a broker that cannot
    take them is logged, and never fails the sign-out itself.
    """
    sessions = ClientSession.objects.filter(hub_session_id=hub_session_id)
    return _sessions_end(actor=actor, user=user, sessions=sessions, issuer=issuer)


@transaction.atomic
def user_sessions_logout_announce(*, actor: Actor, user: User, issuer: str) -> int:
    """Every hub session of ``user`` has ended (the account was deactivated or is being
    deleted, or staff signed the user out everywhere): tell each client of each session.

    Call it before the user's rows go: ClientSession rows are deleted with the user.
    """
    return _sessions_end(actor=actor, user=user, sessions=ClientSession.objects.all(), issuer=issuer)


def hub_issuer(request=None) -> str | None:
    """The issuer logout tokens name: ``OIDC_ISSUER``, else the request's; None without either
    (a command or task of an install that derives its issuer from requests)."""
    if oauth2_settings.OIDC_ISS_ENDPOINT or request is not None:
        return oauth2_settings.oidc_issuer(request)
    return None


@receiver(user_logged_out, dispatch_uid="accounts.oidc.backchannel")
def _session_ended(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed, so its id can still be read.
    hub_session_id = request.session.get(HUB_SESSION_ID_KEY) if request is not None else None
    if user is None or not hub_session_id or not ClientSession.objects.filter(hub_session_id=hub_session_id).exists():
        return  # nobody to tell, and no need to know the issuer
    session_logout_announce(
        actor=Actor.user(user),
        user=user,
        hub_session_id=hub_session_id,
        issuer=oauth2_settings.oidc_issuer(request),
    )


# --- The logout token and its delivery ----------------------------------------------------


def logout_token_make(*, client: Client, subject: str, sid: str, issuer: str) -> str:
    """A logout token (Back-Channel Logout 1.0, 2.4), signed like the ID tokens; no nonce."""
    key = signing_key_current()
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
        "sub": subject,
        "sid": sid,
        "events": {LOGOUT_EVENT: {}},
    }
    token = jwt.JWT(header={"alg": key.algorithm, "kid": key.kid, "typ": "logout+jwt"}, claims=claims)
    token.make_signed_token(key.jwk)
    return token.serialize()


def client_for_logout(client_pk: int) -> Client | None:
    """The client, if it still exists and still wants logout tokens."""
    client = Client.objects.select_related("tenant").filter(pk=client_pk).first()
    return client if client is not None and _listens(client) else None


def logout_token_deliver(*, client: Client, subject: str, sid: str, issuer: str) -> bool:
    """POST a fresh logout token to the client (2.5). True if it took it, False if it refused.

    Raises LogoutDeliveryFailed when asking again may work. The POST goes out through
    ``harbourmaster.outbound``: only to the public addresses the URI's name resolves to
    when it is checked (a development loopback receiver aside), within one total
    deadline, without following redirects or reading the answer's body.
    """
    uri = client.backchannel_logout_uri
    token = logout_token_make(client=client, subject=subject, sid=sid, issuer=issuer)
    try:
        status = outbound.form_post(
            uri,
            {"logout_token": token},
            connect_seconds=DELIVERY_CONNECT_SECONDS,
            total_seconds=DELIVERY_DEADLINE_SECONDS,
            allow_loopback=backchannel_logout_uri_is_development_loopback(uri),
        )
    except outbound.OutboundRefused:
        # A name that resolves into the hub's own network: no request goes there.
        logger.warning(
            "back-channel logout not sent to client %s: its URI resolves to an internal address", client.client_id
        )
        return False
    except outbound.OutboundFailed as error:
        raise LogoutDeliveryFailed(f"{client.client_id}: {error}") from None
    # 2.8: 200 on success; some frameworks answer 204, which the OP should take as well.
    if status in (200, 204):
        return True
    if status in RETRYABLE_STATUSES:
        raise LogoutDeliveryFailed(f"{client.client_id}: HTTP {status}")
    logger.warning("back-channel logout refused by client %s: HTTP %s", client.client_id, status)
    return False
