"""Console roles and the person signed in. Roles are ordered: an operator can do what a
viewer can, an admin what an operator can.

    viewer    reads every page and every admin GET
    operator  also manages keys (create, rotate, revoke) and edits tenants' settings
    admin     also creates, disables and re-enables tenants

The admin key, used as a bearer token on the admin API or to log in to the console
without single sign-on, counts as admin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from gateway.tenancy.audit import Actor


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role | None:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            return None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: from a console session, or the admin key (subject `admin-key`)."""

    subject: str
    role: Role
    email: str | None = None
    name: str | None = None
    csrf: str | None = None       # the session's CSRF token; None for a bearer-token caller

    @property
    def display(self) -> str:
        return self.email or self.name or self.subject

    @property
    def actor(self) -> Actor:
        return Actor(name=self.display, subject=self.subject, email=self.email)

    def can(self, role: Role) -> bool:
        return self.role >= role


ADMIN_KEY_SUBJECT = "admin-key"


def parse_role_map(text: str | None) -> dict[str, Role]:
    """`GATEWAY_OIDC_ROLE_MAP`: "value=role,value=role", where a value is what the roles claim
    holds (an Entra group object id, a Keycloak role name) and role is viewer, operator or admin."""
    mapping: dict[str, Role] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        value, sep, role_text = part.rpartition("=")
        role = Role.parse(role_text)
        if not sep or not value.strip() or role is None:
            raise ValueError(f"GATEWAY_OIDC_ROLE_MAP: `{part.strip()}` is not value=viewer|operator|admin")
        mapping[value.strip()] = role
    return mapping


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The values at a dotted claim path (`roles`, `groups`, `realm_access.roles`); a string
    counts as one value, a space-separated string as several."""
    node: Any = claims
    for step in path.split("."):
        if not isinstance(node, Mapping) or step not in node:
            return []
        node = node[step]
    if isinstance(node, str):
        return node.split()
    if isinstance(node, Iterable):
        return [str(v) for v in node if isinstance(v, str | int)]
    return []


def role_from_claims(claims: Mapping[str, Any], path: str, role_map: Mapping[str, Role]) -> Role | None:
    """The highest role the claim grants: a value the role map names, else a value that is
    exactly a role's name (`admin`, `Operator`). Anything else grants nothing: a group called
    `billing-admin` in the identity provider never becomes a gateway admin by accident."""
    best: Role | None = None
    for value in claim_values(claims, path):
        role = role_map[value] if value in role_map else Role.parse(value)
        if role is not None and (best is None or role > best):
            best = role
    return best
