from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who is calling: the client, its tenant, the scopes the token carries, and the
    tenant's effective config as it stood when the client was read (for rate limits)."""

    client: object
    tenant: object
    scopes: frozenset[str]
    token_id: int | None  # None for a JWT access token, which has no row to name
    tenant_config: dict[str, Any] = field(default_factory=dict)
    # The rate counters, if they were counted with the token's read (api.throttling).
    counted: Any = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
