"""skyplex.testing.gateway_process: the real `skyplex serve` in its own process, its failures reported
with the gateway's own output."""

from __future__ import annotations

import socket
import sys

import pytest

from skyplex.testing import GatewayProcess, gateway_process

pytest.importorskip("skyplex.gateway.server")
httpx = pytest.importorskip("httpx")
pytestmark = pytest.mark.slow


def test_importing_the_testing_package_does_not_import_httpx():
    import subprocess

    code = "import sys, skyplex.testing; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_started_gateway_answers_and_is_stopped_on_exit(tmp_path):
    log = tmp_path / "gateway.log"
    env = {"SKYPLEX_DATA_DIR": str(tmp_path / "data"), "SKYPLEX_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with gateway_process(env=env, extra_args=["--no-auth"], log_path=log) as gateway:
        assert isinstance(gateway, GatewayProcess)
        assert gateway.url == f"http://127.0.0.1:{gateway.port}"
        assert httpx.get(f"{gateway.url}/v1/plugins", timeout=30).status_code == 200  # --no-auth reached it
        assert gateway.proc.poll() is None
        assert "Authentication is off" in gateway.log_text()
    assert gateway.proc.poll() is not None
    assert "Authentication is off" in log.read_text()


def test_a_gateway_that_cannot_start_raises_with_its_output(tmp_path):
    env = {"SKYPLEX_DATA_DIR": str(tmp_path / "data"), "SKYPLEX_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with pytest.raises(AssertionError) as failed:
        with gateway_process(env=env, extra_args=["--no-auth", "--api-key", "k" * 32]):
            pytest.fail("the body must not run when the gateway did not start")
    message = str(failed.value)
    assert "exited with code 2" in message
    assert "contradict each other" in message  # the gateway's own error, from its log


def test_a_port_in_use_is_reported_when_the_port_was_given(tmp_path):
    env = {"SKYPLEX_DATA_DIR": str(tmp_path / "data"), "SKYPLEX_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(AssertionError) as failed:
            with gateway_process(env=env, extra_args=["--no-auth"], port=port):
                pytest.fail("the body must not run when the gateway did not start")
    assert "before it was healthy" in str(failed.value)
    assert "address already in use" in str(failed.value)  # uvicorn's own words, from the log
