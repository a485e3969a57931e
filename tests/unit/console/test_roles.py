"""Roles from identity-provider claims: exact names, nested claims (Keycloak), a role map
for values that are not role names (Entra group object ids), and nothing granted by accident."""

from __future__ import annotations

import pytest

from gateway.identity.roles import Principal, Role, claim_values, parse_role_map, role_from_claims


def test_the_highest_role_named_in_the_claim_wins() -> None:
    assert role_from_claims({"roles": ["viewer", "Admin", "operator"]}, "roles", {}) is Role.ADMIN
    assert role_from_claims({"roles": ["viewer"]}, "roles", {}) is Role.VIEWER
    assert role_from_claims({"roles": "operator viewer"}, "roles", {}) is Role.OPERATOR


def test_a_nested_claim_path_reads_keycloak_realm_roles() -> None:
    claims = {"realm_access": {"roles": ["offline_access", "operator"]}}
    assert role_from_claims(claims, "realm_access.roles", {}) is Role.OPERATOR
    assert role_from_claims(claims, "resource_access.gateway.roles", {}) is None


def test_values_that_only_resemble_a_role_grant_nothing() -> None:
    assert role_from_claims({"roles": ["billing-admin", "gateway.admin", "administrator"]}, "roles", {}) is None
    assert role_from_claims({}, "roles", {}) is None
    assert role_from_claims({"roles": 42}, "roles", {}) is None


def test_the_role_map_turns_group_ids_into_roles() -> None:
    mapping = parse_role_map("0b1c-group-id=admin, 77aa-other=viewer")
    assert mapping == {"0b1c-group-id": Role.ADMIN, "77aa-other": Role.VIEWER}
    assert role_from_claims({"groups": ["77aa-other"]}, "groups", mapping) is Role.VIEWER
    assert role_from_claims({"groups": ["77aa-other", "0b1c-group-id"]}, "groups", mapping) is Role.ADMIN


@pytest.mark.parametrize("text", ["nogroup", "g=superuser", "=admin"])
def test_a_bad_role_map_is_refused_with_the_entry_named(text: str) -> None:
    with pytest.raises(ValueError, match="GATEWAY_OIDC_ROLE_MAP"):
        parse_role_map(text)


def test_claim_values_ignore_objects_and_keep_scalars() -> None:
    assert claim_values({"roles": ["a", {"x": 1}, 3]}, "roles") == ["a", "3"]


def test_roles_are_ordered_and_the_actor_names_the_person() -> None:
    person = Principal(subject="00u1", role=Role.OPERATOR, email="ops@example.com", name="Ops")
    assert person.can(Role.VIEWER) and person.can(Role.OPERATOR) and not person.can(Role.ADMIN)
    assert person.actor.name == "ops@example.com"
    assert (person.actor.subject, person.actor.email) == ("00u1", "ops@example.com")
    assert Principal(subject="00u2", role=Role.VIEWER).display == "00u2"
