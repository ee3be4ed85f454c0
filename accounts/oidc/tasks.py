"""Celery tasks of the OpenID Connect provider: thin doors onto accounts.oidc.backchannel."""

import logging

from celery import shared_task

from accounts.oidc import backchannel

logger = logging.getLogger(__name__)

# Seconds before each retry: five attempts in all, over about seven minutes. Every attempt
# sends a fresh token, so the two-minute lifetime of each never runs out on the way.
RETRY_DELAYS = (10, 30, 90, 270)


@shared_task(bind=True, max_retries=len(RETRY_DELAYS))
def backchannel_logout_send(self, client_pk: int, subject: str, sid: str, issuer: str):
    """Send one client its logout token; returns what came of it (for the worker's log)."""
    client = backchannel.client_for_logout(client_pk)
    if client is None:
        return "gone"  # deleted, disabled, or no longer listening
    try:
        taken = backchannel.logout_token_deliver(client=client, subject=subject, sid=sid, issuer=issuer)
    except backchannel.LogoutDeliveryFailed as failure:
        if self.request.retries >= self.max_retries:
            logger.warning("back-channel logout given up after %d attempts: %s", self.request.retries + 1, failure)
            return "given up"
        retry = self.retry(exc=failure, countdown=RETRY_DELAYS[self.request.retries], throw=False)
        if self.request.is_eager:
            # Run inline (tests, the embedded default), where a raised Retry would propagate
            # to the sign-out; Celery's eager apply runs a returned one again at once.
            return retry
        raise retry from None
    return "delivered" if taken else "refused"


@shared_task
def client_sessions_prune() -> int:
    """Periodic (beat): forget the sessions that expired without a sign-out."""
    return backchannel.client_sessions_prune()
