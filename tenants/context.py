"""The tenant being served, held for the length of one request or task.

It is set from the authenticated client (API) or the OAuth request being served
(sign-in) — never from a request parameter — and always reset on the way out.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenants.models import Tenant

_current_tenant: ContextVar["Tenant | None"] = ContextVar("current_tenant", default=None)


class NoTenantContext(RuntimeError):
    """A tenant-scoped query ran with no tenant set: fail closed rather than leak."""


@contextmanager
def tenant_context(tenant: "Tenant") -> Iterator["Tenant"]:
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)


def current_tenant() -> "Tenant":
    tenant = _current_tenant.get()
    if tenant is None:
        raise NoTenantContext("no tenant is set for this request; use tenant_context() or .unscoped()")
    return tenant


def current_tenant_or_none() -> "Tenant | None":
    return _current_tenant.get()
