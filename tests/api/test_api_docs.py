import re

import yaml


def _schema(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_openapi_document_covers_every_api_route(client, db):
    schema = _schema(client)
    assert schema["openapi"].startswith("3.")
    documented = set(schema["paths"])
    routes = {
        "/api/v1/tenant",
        "/api/v1/tenant/config",
        "/api/v1/tenant/config/revisions",
        "/api/v1/clients",
        "/api/v1/clients/{client_id}",
        "/api/v1/clients/{client_id}/rotate",
        "/api/v1/clients/{client_id}/disable",
        "/api/v1/clients/{client_id}/enable",
        "/api/v1/clients/{client_id}/secrets/{secret_id}",
        "/api/v1/purposes",
        "/api/v1/purposes/{slug}",
        "/api/v1/purposes/{slug}/versions",
        "/api/v1/purposes/{slug}/retire",
        "/api/v1/tenants",
        "/api/v1/tenants/{slug}",
    }
    assert routes <= documented, routes - documented


def test_scopes_and_security_scheme_are_published(client, db):
    schema = _schema(client)
    flow = schema["components"]["securitySchemes"]["clientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/o/token/" and "tenant:admin" in flow["scopes"]


def test_docs_page_serves_its_assets_locally(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served by the hub"
        assert client.get(asset).status_code == 200, asset
