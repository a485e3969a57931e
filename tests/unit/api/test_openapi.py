"""The OpenAPI document at /openapi.json is maintained by hand: every route the app serves
must be in it (each method), and it describes nothing the app does not serve."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient

from gateway.api.openapi import document, served_routes
from gateway.app import create_app
from gateway.settings import Settings


def _app(tmp_path: Path, **parts: bool) -> TestClient:
    return TestClient(create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"), **parts))


@pytest.mark.parametrize("parts", [{}, {"admin_api": False}, {"public": False}])
def test_every_route_of_the_app_and_method_is_in_the_served_document(tmp_path: Path,
                                                                     parts: dict[str, bool]) -> None:
    client = _app(tmp_path, **parts)
    served = served_routes(client.app.routes)  # type: ignore[attr-defined]
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    missing = [(method, path) for path, methods in served.items() for method in methods - {"head"}
               if method not in paths.get(path, {})]
    assert missing == []
    assert set(paths) == set(served)


def test_the_public_listener_does_not_describe_the_admin_api(tmp_path: Path) -> None:
    paths = _app(tmp_path, admin_api=False).get("/openapi.json").json()["paths"]
    assert "/v1/chat/completions" in paths and "/v1/messages" in paths
    assert not [p for p in paths if p.startswith("/admin") or p == "/metrics"]


def test_every_reference_resolves_and_every_operation_has_its_error_shape() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    text = str(doc)
    for name in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in schemas, name
    for path, item in doc["paths"].items():
        for method, op in item.items():
            errors = [code for code in op["responses"] if code.startswith("4")]
            for code in errors:
                schema = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                expected = "AnthropicError" if path.startswith("/v1/messages") else "OpenAIError"
                assert schema.endswith(expected), (method, path, code)


def test_schemathesis_loads_the_document() -> None:
    schema = schemathesis.openapi.from_dict(document())
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == sum(len(item) for item in document()["paths"].values())
