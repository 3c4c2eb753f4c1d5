"""`skyplex serve`: start the HTTP gateway (needs the ``gateway`` extra)."""

from __future__ import annotations

import importlib

import click

from ..errors import InvalidInputError, ModelUnavailableError
from .context import CliState, pass_state

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--no-auth", is_flag=True, help="Accept requests without an API key (loopback hosts only).")
@click.option(
    "--api-key",
    envvar="SKYPLEX_API_KEY",
    help="Bearer token clients must send (default: $SKYPLEX_API_KEY, else one stored in the data dir).",
)
@click.option(
    "--log-level", type=click.Choice(LOG_LEVELS), default=None, help="Server log level (default: info; debug with -v)."
)
@pass_state
def serve(state: CliState, host: str, port: int, no_auth: bool, api_key: str | None, log_level: str | None) -> None:
    """Start the HTTP gateway: REST per plugin kind, jobs, OpenAI-compatible endpoints."""
    try:
        server = importlib.import_module("skyplex.gateway.server")
    except ImportError as exc:
        # fastapi/uvicorn are an optional extra; say how to get them rather than showing a traceback
        raise ModelUnavailableError(
            f"the gateway cannot start: {exc}. Install it with: pip install 'skyplex[gateway]'", field="serve"
        ) from exc

    settings = state.settings
    err = state.err
    base_url = f"http://{_url_host(host)}:{port}"
    if no_auth:
        if api_key:
            raise click.UsageError("--api-key and --no-auth contradict each other; give one of them")
        # checked here too (serve() checks again) so the refusal is not preceded by the notes below
        if not server.is_loopback(host):
            raise InvalidInputError(
                f"--no-auth is only allowed on a loopback host (127.0.0.1, ::1, localhost), not {host!r}; "
                "keep auth on to listen on other interfaces",
                field="--no-auth",
            )
        err.print("Authentication is off (--no-auth): anyone who can reach this port can use it.", style="yellow")
        err.print(f"Try: curl {base_url}/v1/plugins", markup=False)
    else:
        created = False
        if not api_key:
            api_key, created = server.load_or_create_api_key(settings.data_dir)
            if created:
                err.print(
                    f"Created a new API key (stored in {settings.data_dir}); it is shown only this once:",
                    style="bold green",
                    markup=False,
                )
                # the key on a line of its own so it is easy to copy
                err.print(api_key, style="bold", markup=False)
            else:
                where = settings.data_dir / getattr(server, "KEY_FILE", "")
                err.print(f"Using the API key stored in {where}.", markup=False)
        # repeat the key only when it was just shown anyway; otherwise keep secrets out of logs
        key_hint = api_key if created else "$SKYPLEX_API_KEY"
        err.print(f'Try: curl -H "Authorization: Bearer {key_hint}" {base_url}/v1/plugins', markup=False)
    server.serve(
        state.kernel,
        host=host,
        port=port,
        auth=not no_auth,
        api_key=api_key,
        log_level=log_level or ("debug" if state.verbose else "info"),
    )


def _url_host(host: str) -> str:
    """``host`` as it goes in a URL: IPv6 in brackets, the any-address replaced by loopback."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
