"""Property-based tests of the live API against its own OpenAPI document.

Schemathesis (its CLI, as a tenant would run it) generates requests from /api/schema/ —
valid and invalid — and sends them to a live server as an authenticated tenant admin.
No answer may be a 5xx, and every documented answer must match the schema it promises.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import ALL_TENANT_SCOPES

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def test_live_api_answers_as_documented_and_never_with_5xx(transactional_db, live_server, world, issue_token):
    token = issue_token(world.acme.backend, ALL_TENANT_SCOPES)
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [
            st,
            "run",
            f"{live_server.url}/api/schema/",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "10",
            "--seed",
            "20261122",
            "--max-time",
            "150",
            "--workers",
            "1",
            "--warnings",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout[-3000:]
