"""The embedded default, booted as `make run` boots it: no environment, SQLite, a real server.

Runs in a clean environment (no DATABASE_URL or REDIS_URL) with its var/ in a temporary
directory, so it neither depends on nor touches the developer's demo database.
"""

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60


def clean_env(var_dir: Path) -> dict[str, str]:
    """Only what a shell needs: none of the settings' variables leak in from the test run."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return keep | {"HARBOURMASTER_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"}


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """Just enough of a browser: cookies, forms by regex, and non-2xx answers as responses."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(
        self, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers or {})  # noqa: S310
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Migrate, seed and serve the embedded default once; yield (browser, seed output); always stop it."""
    tmp_path = tmp_path_factory.mktemp("embedded")
    env = clean_env(tmp_path / "var")
    manage("migrate", "--noinput", env=env)
    seed_output = manage("demo_seed", env=env)
    port = free_port()
    log_path = tmp_path / "runserver.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        wait_until_up(browser, process, log_path)
        yield browser, seed_output
    finally:
        stop(process)


def wait_until_up(browser: Browser, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"runserver exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if browser.request("/health/live")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    pytest.fail(f"runserver did not answer within {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_embedded_default_is_ready_with_every_check_ok(server):
    browser, _ = server

    status, body = browser.request("/health/ready")

    assert status == 200, body
    assert json.loads(body) == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


def test_staff_signs_in_to_the_admin_with_the_printed_demo_credentials(server):
    browser, seed_output = server
    email, password = re.search(r"as (\S+@\S+) with password (\S+)", seed_output).groups()

    status, login_page = browser.request("/admin/login/?next=/admin/")
    assert status == 200
    assert "Log in" in login_page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)

    status, admin_page = browser.request(
        "/admin/login/?next=/admin/",
        {"csrfmiddlewaretoken": token, "username": email, "password": password, "next": "/admin/"},
    )

    assert status == 200
    assert "Site administration" in admin_page
    assert re.search(rf"Welcome,\s*<strong>{re.escape(email)}</strong>", admin_page)


def test_admin_styles_are_served_without_collectstatic(server):
    browser, _ = server

    status, stylesheet = browser.request("/static/admin/css/base.css")

    assert status == 200
    assert "body" in stylesheet


def test_the_printed_backend_credentials_get_an_api_token(server):
    browser, seed_output = server
    client_id, secret = re.search(r"curl -u '([^:]+):([^']+)'", seed_output).groups()
    basic = b64encode(f"{client_id}:{secret}".encode()).decode()

    status, body = browser.request(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "users:read"},
        headers={"Authorization": f"Basic {basic}"},
    )

    assert status == 200, body
    token = json.loads(body)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "users:read"
    assert token["access_token"]


def test_openid_connect_discovery_names_this_server_as_issuer(server):
    browser, _ = server

    status, body = browser.request("/.well-known/openid-configuration")

    assert status == 200, body
    assert json.loads(body)["issuer"].startswith(browser.base_url)
