"""Who did something: every service takes an explicit ``actor`` and records it."""

from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["staff", "user", "client", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    identifier: str

    @classmethod
    def staff(cls, user) -> "Actor":
        return cls("staff", str(user.uuid))

    @classmethod
    def user(cls, user) -> "Actor":
        return cls("user", str(user.uuid))

    @classmethod
    def client(cls, client) -> "Actor":
        return cls("client", client.client_id)

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls("system", name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.identifier}"
