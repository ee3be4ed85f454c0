from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who is calling: the client, its tenant and the scopes the token carries."""

    client: object
    tenant: object
    scopes: frozenset[str]
    token_id: int

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
