"""The credential-injecting proxy: the only way actions reach REST services.

It listens on 127.0.0.1 (a sandbox can reach it through ``SandboxPolicy(network="loopback",
forward_ports=(port,))``). A request to ``http://127.0.0.1:<port>/<service>/<path>`` is checked against
the service's allow-list (method + path pattern), gets ``{{secret:NAME}}`` placeholders in headers and
body replaced by the vault (only secrets the service may use), is forwarded to the service's base URL,
and comes back with every secret value redacted. Every exchange is recorded.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import logging
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from .handlers import ServiceAccess

log = logging.getLogger(__name__)
HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive", "accept-encoding"}


def find_rule(service: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The first allow rule matching ``method`` and ``path``, or None (then the call is refused)."""
    for rule in service.get("allow", []):
        if rule.get("method", "").upper() in (method.upper(), "*") and fnmatch.fnmatchcase(path, rule.get("path", "")):
            return rule
    return None


class CredentialProxy:
    """A loopback HTTP proxy bound to an executor's services and vault."""

    def __init__(self, executor: ServiceAccess) -> None:
        self.executor = executor
        self.exchanges: list[dict[str, Any]] = []
        self._client = httpx.Client(timeout=30.0, follow_redirects=False)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                status, headers, body = proxy.forward(self.command, self.path, dict(self.headers), self._body())
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("proxy: " + fmt, *args)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="goex-proxy")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forward(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Check, inject, send, redact; returns (status, headers, body) as the caller will see them."""
        parts = urlsplit(raw_path)
        service_name, _, rest = parts.path.lstrip("/").partition("/")
        path = "/" + rest
        service = self.executor.services.get(service_name)
        if service is None:
            return self._refuse(403, f"unknown service {service_name!r}")
        if find_rule(service, method, path) is None:
            return self._refuse(403, f"{method} {path} is not on {service_name!r}'s allow-list")
        vault = self.executor.vault
        allowed = set(service.get("secrets", []))
        try:
            out_headers = {k: vault.substitute(v, allowed) for k, v in headers.items() if k.lower() not in HOP_HEADERS}
            out_body = vault.substitute(body.decode("utf-8"), allowed).encode() if body else b""
        except Exception as exc:  # refused or unknown secret: never forward a half-filled request
            return self._refuse(403, getattr(exc, "message", str(exc)))
        url = service["base_url"].rstrip("/") + path + (f"?{parts.query}" if parts.query else "")
        try:
            resp = self._client.request(method, url, headers=out_headers, content=out_body)
        except httpx.HTTPError as exc:
            return self._refuse(502, f"cannot reach {service_name!r}: {exc}")
        text = vault.redact(resp.content.decode("utf-8", "replace"))
        resp_headers = {k: vault.redact(v) for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS | {"content-encoding"}}
        self.exchanges.append({"service": service_name, "method": method, "path": path, "status": resp.status_code,
                               "request_headers": {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS},
                               "response": text[:4000]})
        return resp.status_code, resp_headers, text.encode()

    def _refuse(self, status: int, message: str) -> tuple[int, dict[str, str], bytes]:
        log.info("proxy refused a request: %s", message)
        body = json.dumps({"error": {"type": "goex_proxy", "message": message}}).encode()
        return status, {"Content-Type": "application/json", "X-Goex-Refused": "1"}, body

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
