"""The quick start for real: ``hitblocks run`` in a subprocess, then the README's curl."""

from __future__ import annotations

import sys
import urllib.request

from tests.helpers.servers import (
    ROOT,
    SERVING,
    call,
    free_port,
    hitblocks,
    printed_key,
    read_until,
    scratch_env,
    stop,
)


def test_first_start_migrates_prints_a_working_key_and_restart_keeps_it(tmp_path):
    port, mturk_port = free_port(), free_port()
    env = scratch_env(tmp_path, MTURK_LOCAL_PORT=str(mturk_port), MTURK_LOCAL_BALANCE="25.00")
    server = hitblocks("run", "--port", str(port), env=env)
    try:
        output = read_until(server, SERVING)
        worker_site = f"http://127.0.0.1:{mturk_port}/worker"
        assert any(worker_site in line for line in output), "the worker site URL is printed"
        with urllib.request.urlopen(worker_site, timeout=30) as page:
            assert "Sign in as a worker" in page.read().decode()
            assert page.headers["Server"].startswith("gunicorn")
        key = printed_key(output)
        assert any(f"curl http://127.0.0.1:{port}/v1/hitblocks -u " in line for line in output)
        status, body, headers = call(f"http://127.0.0.1:{port}/v1/hitblocks", key)
        assert (status, body["object"]) == (200, "list")
        assert headers["Server"].startswith("gunicorn"), "served by the production server"
        assert call(f"http://127.0.0.1:{port}/v1/hitblocks", "hb_wrong")[0] == 401

        # The whole loop on one machine: the item becomes a HIT on the bundled MTurk service.
        api = f"http://127.0.0.1:{port}/v1"
        hitblock = {"type": "image-transcription", "title": "Receipts", "cost_per_item": "0.10"}
        status, created, _ = call(f"{api}/hitblocks", key, hitblock)
        assert status == 200, created
        image = {"type": "image", "image_url": "https://example.org/r.jpg"}
        status, item, _ = call(f"{api}/hitblocks/{created['id']}/items", key, image)
        assert status == 200, item
        status, hit, _ = call(f"{api}/item/{item['id']}/post", key, {})
        assert status == 200, hit
        assert hit["url"] == f"http://127.0.0.1:{mturk_port}/worker/hits/{hit['id']}"
    finally:
        assert stop(server) == 0
    assert not any("development server" in line for line in server.seen), "".join(server.seen)

    server = hitblocks("run", "--port", str(port), env=env)
    try:
        output = read_until(server, SERVING)
        assert not any("curl " in line for line in output), "a second start must not add a key"
        assert call(f"http://127.0.0.1:{port}/v1/hitblocks", key)[0] == 200
    finally:
        stop(server)


def test_wsgi_module_exposes_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("HITBLOCKS_DATABASE_URL", f"sqlite:///{tmp_path / 'wsgi.sqlite3'}")
    sys.modules.pop("wsgi", None)
    monkeypatch.syspath_prepend(str(ROOT))
    import wsgi

    response = wsgi.app.test_client().get("/v1/hitblocks")
    assert response.status_code == 401
    sys.modules.pop("wsgi", None)


def test_mturk_local_command_serves_the_requester_api_and_worker_site(tmp_path):
    from mturk.client import load_credentials_file, make_client, resolve_endpoint

    port = free_port()
    env = scratch_env(tmp_path, MTURK_LOCAL_BALANCE="25.00")
    server = hitblocks("mturk-local", "--port", str(port), env=env)
    try:
        output = read_until(server, "Local MTurk service")
        assert any(f"http://127.0.0.1:{port}/worker" in line for line in output)
        url = f"http://127.0.0.1:{port}"
        # Hitblocks' own requester, created on first start, its key kept beside the databases.
        credentials = load_credentials_file(str(tmp_path / "mturk-local-credentials"))
        client = make_client(resolve_endpoint(url, url), credentials=credentials)
        assert client.get_account_balance()["AvailableBalance"] == "25.00"
        client.close()
        with urllib.request.urlopen(f"{url}/worker", timeout=30) as page:
            assert page.headers["Server"].startswith("gunicorn")
    finally:
        assert stop(server) == 0
