"""The `skyplex` command line: every command group, plugin command groups, errors and exit codes.

Most tests run the CLI in-process with click's CliRunner and a kernel built from the built-in plugins
plus test plugins (no installed entry points), against a temporary data dir. Tests that load the real
SmolLM2 model share the session's ``test_data_dir`` (so the converted weights are cached once) and
are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from skyplex import Kernel, Settings, hookimpl, make_plugin_manager
from skyplex.cli import CliState, pass_kernel
from skyplex.cli.main import cli, main
from skyplex.errors import InvalidInputError, ModelUnavailableError
from skyplex.interfaces.model import ChatMessage, GenerationParams
from skyplex.testing import FakeModelBackend, gateway_process

# --------------------------------------------------------------------------------------------------
# test plugins


def echo_reply(prompt: str) -> str:
    """The test backend's rule: ``echo: <prompt>`` for text; ``reply <n> to <last message>`` for the n-th
    user turn of a conversation (which the fake backends see as ``role: content`` lines)."""
    lines = prompt.splitlines()
    if lines and all(re.match(r"(system|user|assistant): ", line) for line in lines):
        turn = sum(line.startswith("user: ") for line in lines)
        return f"reply {turn} to {lines[-1].split(': ', 1)[1]}"
    return f"echo: {prompt}"


class EchoPlugin:
    """Registers `echo` (works) and `broken` (cannot run here) model backends."""

    def __init__(self) -> None:
        # one backend for every kernel a test builds, so `calls` spans invocations
        self.backend = FakeModelBackend(echo_reply, model="echo-1")

    @property
    def calls(self) -> list[tuple[list[Any], GenerationParams]]:
        """Every ``generate`` batch (``stream`` goes through it) with its params."""
        return self.backend.calls

    @hookimpl
    def skyplex_register_models(self, register):
        register("echo", lambda: self.backend, description="answers with the prompt")

        def broken():
            raise ModelUnavailableError("the broken backend needs a GPU", field="models.broken")

        register("broken", broken, description="never available")


class HelloCommands:
    """Adds a `hello` command group that reaches the kernel."""

    @hookimpl
    def skyplex_register_commands(self, cli):
        @cli.group()
        def hello():
            """Say hello."""

        @hello.command()
        @click.option("--name", default="world")
        @pass_kernel
        def world(kernel, name):
            """Greet NAME and list model backends."""
            click.echo(f"hello {name}; models: {', '.join(kernel.models.names())}")


class ClashingCommands:
    """Tries to replace the built-in `models` group."""

    @hookimpl
    def skyplex_register_commands(self, cli):
        @cli.command("models")
        def models():
            click.echo("hijacked")


class RaisingCommands:
    """Its command hook raises after adding a command."""

    @hookimpl
    def skyplex_register_commands(self, cli):
        @cli.command("half")
        def half():
            click.echo("half")

        raise RuntimeError("command hook exploded")


def kernel_factory(*plugins: tuple[str, object]):
    """A kernel with the built-ins and ``plugins``, ignoring installed entry points."""

    def build(settings: Settings) -> Kernel:
        return Kernel(settings=settings, pm=make_plugin_manager(entrypoints=False, extra=list(plugins)))

    return build


# --------------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    names = ("SKYPLEX_CONFIG", "SKYPLEX_DATABASE_URL", "SKYPLEX_DEFAULT_MODEL", "SKYPLEX_PLUGINS", "SKYPLEX_API_KEY")
    for var in names:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def echo() -> EchoPlugin:
    return EchoPlugin()


@pytest.fixture
def run(data_dir, echo):
    """run(*args, input=None, plugins=(...)) -> click Result, with --data-dir and the echo plugin."""

    def invoke(*args: str, input: str | None = None, plugins: Sequence[tuple[str, object]] = (), data=None) -> Result:
        state = CliState(kernel_factory(("echo", echo), *plugins))
        argv = ["--data-dir", str(data or data_dir), *args]
        # wide enough that rich tables do not wrap the words the tests look for
        return CliRunner(env={"COLUMNS": "200"}).invoke(cli, argv, obj=state, input=input, catch_exceptions=False)

    return invoke


def assert_one_line_error(result: Result, *fragments: str, code: int = 2) -> None:
    """Exit ``code`` and one 'error: ...' line, last on stderr, holding every fragment.

    (Log warnings, e.g. about a broken test plugin, may come before it.)
    """
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def skyplex_executable() -> str:
    found = Path(sys.executable).parent / "skyplex"
    return str(found) if found.exists() else (shutil.which("skyplex") or pytest.skip("skyplex script not installed"))


# --------------------------------------------------------------------------------------------------
# root group


def test_help_lists_builtin_and_plugin_commands(run):
    result = run("--help", plugins=[("hello", HelloCommands())])
    assert result.exit_code == 0
    for name in ("plugins", "serve", "models", "jobs", "new-plugin", "hello"):
        assert name in result.stdout


def test_no_command_prints_help_and_succeeds(run):
    result = run()
    assert result.exit_code == 0
    assert "Commands:" in result.stdout


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("skyplex ")


def test_main_returns_exit_code_and_prints_one_line(capsys, data_dir):
    code = main(["--data-dir", str(data_dir), "no-such-command"], kernel_factory=kernel_factory())
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: No such command 'no-such-command'. (see 'skyplex --help')"]


def test_unknown_option_is_one_line(run):
    assert_one_line_error(run("plugins", "--nope"), "--nope", "skyplex plugins --help")


def test_malformed_config_yaml_names_the_file(run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n  - x: {\n")
    assert_one_line_error(run("--config", str(bad), "plugins"), str(bad), "not valid YAML")


def test_invalid_config_value_names_the_setting(run, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("job_workers: 0\n")
    assert_one_line_error(run("--config", str(cfg), "jobs", "list"), "job_workers")


def test_missing_config_file_is_reported(run, tmp_path):
    assert_one_line_error(run("--config", str(tmp_path / "absent.yaml"), "plugins"), "absent.yaml")


def test_verbose_adds_traceback(run):
    result = run("-v", "models", "generate", "-m", "nope", "hi")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: unknown model 'nope'")


def test_unexpected_exception_is_one_line_with_hint(run):
    class Boom:
        @hookimpl
        def skyplex_register_commands(self, cli):
            @cli.command()
            def boom():
                raise ZeroDivisionError("bad math")

    result = run("boom", plugins=[("boom", Boom())])
    assert_one_line_error(result, "failed with ZeroDivisionError: bad math", "-v", code=1)


# --------------------------------------------------------------------------------------------------
# plugins


def test_plugins_table_lists_builtins_and_test_plugins(run):
    result = run("plugins")
    assert result.exit_code == 0, result.output
    for name in ("local", "openai", "vllm", "echo"):
        assert name in result.stdout
    assert "model: broken, echo" in result.stdout


def test_plugins_json_is_machine_readable(run):
    for args in (("plugins", "--json"), ("--json", "plugins")):
        result = run(*args)
        assert result.exit_code == 0
        report = json.loads(result.stdout)
        by_name = {p["name"]: p for p in report["plugins"]}
        assert by_name["skyplex"]["builtin"] is True
        assert by_name["skyplex"]["provides"] == {"model": ["local", "openai", "vllm"]}
        assert by_name["skyplex"]["commands"] == ["jobs", "models", "new-plugin", "plugins", "serve"]
        assert by_name["echo"]["provides"] == {"model": ["broken", "echo"]}
        assert "skyplex_register_models" in by_name["echo"]["hooks"]
        assert report["errors"] == []


def test_plugin_hook_errors_are_listed_and_the_rest_work(run):
    class Failing:
        @hookimpl
        def skyplex_register_models(self, register):
            raise RuntimeError("no weights here")

    result = run("plugins", plugins=[("failing", Failing())])
    assert result.exit_code == 0
    assert "failing" in result.stdout and "RuntimeError: no weights here" in result.stdout
    report = json.loads(run("plugins", "--json", plugins=[("failing", Failing())]).stdout)
    expected = {"plugin": "failing", "where": "skyplex_register_models", "error": "RuntimeError: no weights here"}
    assert expected in report["errors"]
    assert "echo" in {p["name"] for p in report["plugins"]}


def test_installed_script_prints_plugins_json(data_dir):
    env = {**os.environ, "SKYPLEX_DATA_DIR": str(data_dir)}
    proc = subprocess.run(
        [skyplex_executable(), "plugins", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    provided = {n for p in report["plugins"] for n in p["provides"].get("model", [])}
    assert {"local", "openai", "vllm"} <= provided
    assert isinstance(report["errors"], list)


# --------------------------------------------------------------------------------------------------
# plugin command groups


def test_plugin_command_group_runs_with_the_kernel(run):
    result = run("hello", "world", "--name", "skyplex", plugins=[("hello", HelloCommands())])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("hello skyplex; models: broken, echo, local")
    report = json.loads(run("plugins", "--json", plugins=[("hello", HelloCommands())]).stdout)
    assert next(p for p in report["plugins"] if p["name"] == "hello")["commands"] == ["hello"]


def test_plugin_cannot_replace_a_builtin_command(run):
    plugins = [("clash", ClashingCommands())]
    result = run("models", "list", "--json", plugins=plugins)
    assert result.exit_code == 0
    assert "hijacked" not in result.stdout
    report = json.loads(run("plugins", "--json", plugins=plugins).stdout)
    (err,) = [e for e in report["errors"] if e["plugin"] == "clash"]
    assert "'models'" in err["error"] and err["where"] == "skyplex_register_commands"


def test_plugin_whose_command_hook_raises_adds_nothing(run):
    plugins = [("raising", RaisingCommands()), ("hello", HelloCommands())]
    assert_one_line_error(run("half", plugins=plugins), "No such command 'half'")
    assert run("hello", "world", plugins=plugins).exit_code == 0
    report = json.loads(run("plugins", "--json", plugins=plugins).stdout)
    assert any(e["plugin"] == "raising" and "exploded" in e["error"] for e in report["errors"])


def test_kernel_starts_only_for_commands_that_use_it_and_closes_after(run):
    events: list[str] = []

    class Lifecycle(HelloCommands):
        @hookimpl
        def skyplex_startup(self, kernel):
            events.append("startup")

        @hookimpl
        def skyplex_shutdown(self, kernel):
            events.append("shutdown")

    assert run("--help", plugins=[("life", Lifecycle())]).exit_code == 0
    assert events == []  # listing plugin commands needs the plugins, not their startup hooks
    assert run("hello", "world", plugins=[("life", Lifecycle())]).exit_code == 0
    assert events == ["startup", "shutdown"]


def test_plugin_commands_do_not_leak_between_invocations(run):
    assert run("hello", "world", plugins=[("hello", HelloCommands())]).exit_code == 0
    assert_one_line_error(run("hello", "world"), "No such command 'hello'")


# --------------------------------------------------------------------------------------------------
# models (with the echo backend)


def test_models_list_shows_availability(run):
    result = run("models", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["echo"]["available"] is True and rows["echo"]["model"] == "echo-1"
    assert rows["broken"]["available"] is False and "needs a GPU" in rows["broken"]["reason"]
    assert rows["local"]["default"] is True
    table = run("models", "list")
    assert table.exit_code == 0 and "needs a GPU" in table.stdout and "(default)" in table.stdout


def test_generate_prints_text_and_passes_params(run, echo):
    result = run(
        "models", "generate", "-m", "echo", "hello there",
        "--max-tokens", "5", "--temperature", "0.5", "--seed", "7", "--stop", "\n", "--stop", ".",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: hello there\n"
    (prompts, params) = echo.calls[0]
    assert prompts == ["hello there"]
    assert (params.max_tokens, params.temperature, params.seed, params.stop) == (5, 0.5, 7, ["\n", "."])


def test_generate_reads_prompts_from_stdin_and_prints_json(run, echo):
    result = run("models", "generate", "-m", "echo", "-", "--json", "--logprobs", input="first\n\nsecond [x]\n")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["model"] == "echo"
    assert [c["prompt"] for c in out["completions"]] == ["first", "second [x]"]
    assert out["completions"][1]["text"] == "echo: second [x]"
    assert out["completions"][0]["logprobs"][0]["logprob"] == -0.1
    assert echo.calls[0][1].logprobs is True


def test_generate_several_prompts_with_logprobs_table(run):
    result = run("models", "generate", "-m", "echo", "a", "[b]", "--logprobs", "--top-logprobs", "2")
    assert result.exit_code == 0, result.output
    assert "1: a" in result.stdout and "2: [b]" in result.stdout
    assert "'[b]'" in result.stdout and "'[alt1]' -1.20" in result.stdout  # brackets survive rich markup


def test_generate_uses_the_default_model_setting(run, tmp_path, echo):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("default_model: echo\n")
    result = run("--config", str(cfg), "models", "generate", "hi")
    assert result.exit_code == 0 and result.stdout == "echo: hi\n"


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["-m", "nope", "hi"], ["unknown model 'nope'", "echo", "local"]),
        (["-m", "echo", "hi", "--temperature", "9"], ["--temperature", "less than or equal to 5"]),
        (["-m", "echo", "hi", "--max-tokens", "0"], ["--max-tokens"]),
        (["-m", "echo", "hi", "--max-tokens", "lots"], ["--max-tokens", "lots"]),
        (["-m", "echo"], ["no prompts"]),
        (["-m", "broken", "hi"], ["the broken backend needs a GPU"]),
    ],
)
def test_generate_bad_input(run, args, fragments):
    assert_one_line_error(run("models", "generate", *args), *fragments)


def test_chat_keeps_the_conversation_and_streams(run, echo):
    script = "Hi there\n\nWhat did I say?\n/reset\nAgain\n/exit\nnever read\n"
    result = run("models", "chat", "-m", "echo", "--system", "Be brief.", input=script)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["reply 1 to Hi there", "reply 2 to What did I say?", "reply 1 to Again"]
    streams = [prompts[0] for prompts, _ in echo.calls]  # each turn streams one conversation
    assert [m.role for m in streams[1]] == ["system", "user", "assistant", "user"]
    assert streams[1][2] == ChatMessage(role="assistant", content="reply 1 to Hi there")
    assert [m.content for m in streams[2]] == ["Be brief.", "Again"]  # /reset kept only the system message


def test_chat_unknown_slash_command_is_a_note_not_a_message(run, echo):
    result = run("models", "chat", "-m", "echo", input="/bogus\nhello\n")
    assert result.exit_code == 0
    assert "unknown command '/bogus'" in result.stderr
    assert result.stdout.splitlines() == ["reply 1 to hello"]


def test_chat_unknown_backend(run):
    assert_one_line_error(run("models", "chat", "-m", "nope", input="hi\n"), "unknown model 'nope'")


# --------------------------------------------------------------------------------------------------
# jobs, on a kernel sharing the CLI's SQLite data dir


@pytest.fixture
def job_kernel(data_dir) -> Iterator[Kernel]:
    kernel = Kernel(settings=Settings.load(data_dir=data_dir), pm=make_plugin_manager(entrypoints=False))
    yield kernel
    kernel.close()


def _steps(ctx, steps: int, delay: float, fail_at: int | None = None):
    for i in range(steps):
        ctx.check_cancelled()
        if fail_at is not None and i == fail_at:
            raise ValueError(f"step {i} went wrong")
        time.sleep(delay)
        ctx.progress(i + 1, steps, message=f"step {i + 1}")
    return {"steps": steps}


def _wait_for(job_kernel: Kernel, job_id: str, status: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while job_kernel.jobs.get(job_id).status != status:
        assert time.monotonic() < deadline, f"job never became {status}"
        time.sleep(0.02)


def test_jobs_list_show_and_filters(run, job_kernel):
    job = job_kernel.jobs.submit(_steps, name="tiny", kind="evaluation", params={"steps": 2, "delay": 0.0})
    job_kernel.jobs.wait(job.id, timeout=30)
    listed = json.loads(run("jobs", "list", "--json").stdout)
    assert [j["id"] for j in listed] == [job.id]
    assert listed[0]["status"] == "succeeded" and listed[0]["result"] == {"steps": 2}
    table = run("jobs", "list")
    assert table.exit_code == 0 and "tiny" in table.stdout and "succeeded" in table.stdout
    assert json.loads(run("jobs", "list", "--json", "--status", "failed").stdout) == []
    assert json.loads(run("jobs", "list", "--json", "--kind", "proof").stdout) == []
    shown = run("jobs", "show", job.id)
    assert shown.exit_code == 0 and '"steps": 2' in shown.stdout and "100%" in shown.stdout
    assert json.loads(run("--json", "jobs", "show", job.id).stdout)["id"] == job.id


def test_jobs_show_follow_draws_progress_until_success(run, job_kernel):
    job = job_kernel.jobs.submit(_steps, name="follow-me", params={"steps": 5, "delay": 0.1})
    result = run("jobs", "show", job.id, "--follow", "--interval", "0.05")
    assert result.exit_code == 0, result.output
    assert "follow-me" in result.stderr and "100%" in result.stderr and "5/5" in result.stderr
    assert "succeeded" in result.stdout
    assert job_kernel.jobs.get(job.id).status == "succeeded"


def test_jobs_show_follow_exits_1_when_the_job_fails(run, job_kernel):
    job = job_kernel.jobs.submit(_steps, name="doomed", params={"steps": 3, "delay": 0.05, "fail_at": 1})
    result = run("jobs", "show", job.id, "--follow", "--interval", "0.05")
    assert result.exit_code == 1, result.output
    assert "failed" in result.stdout and "step 1 went wrong" in result.stdout
    as_json = run("--json", "jobs", "show", job.id, "--follow")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["status"] == "failed"


def test_jobs_cancel_a_running_job(run, job_kernel):
    job = job_kernel.jobs.submit(_steps, name="long", params={"steps": 200, "delay": 0.05})
    _wait_for(job_kernel, job.id, "running")
    result = run("jobs", "cancel", job.id)
    assert result.exit_code == 0, result.output
    assert job.id in result.stdout
    final = job_kernel.jobs.wait(job.id, timeout=30)
    assert final.status == "cancelled"
    followed = run("jobs", "show", job.id, "--follow")
    assert followed.exit_code == 1  # cancelled is not success
    assert_one_line_error(run("jobs", "cancel", job.id), "already cancelled")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["show", "0123abc"], ["no job with id '0123abc'"]),
        (["cancel", "0123abc"], ["no job with id '0123abc'"]),
        (["show", "0123abc", "--follow"], ["no job with id '0123abc'"]),
        (["list", "--status", "bogus"], ["--status", "bogus"]),
        (["list", "--limit", "0"], ["--limit"]),
    ],
)
def test_jobs_bad_input(run, args, fragments):
    assert_one_line_error(run("jobs", *args), *fragments)


# --------------------------------------------------------------------------------------------------
# serve (gateway replaced by a recorder; the real server is exercised in the slow test below)


@pytest.fixture
def fake_gateway(monkeypatch):
    calls: dict[str, Any] = {"created": True}
    module = types.ModuleType("skyplex.gateway.server")

    def load_or_create_api_key(data_dir):
        calls["key_dir"] = Path(data_dir)
        return "sk-test-123", calls["created"]

    def is_loopback(host):
        return host in ("127.0.0.1", "localhost", "::1")

    def serve(kernel, *, host, port, auth, api_key, log_level):
        if not auth and not is_loopback(host):
            raise InvalidInputError(f"--no-auth is only allowed on a loopback host, not {host!r}", field="host")
        calls["serve"] = {"kernel": kernel, "host": host, "port": port, "auth": auth, "api_key": api_key,
                          "log_level": log_level}  # fmt: skip

    module.load_or_create_api_key = load_or_create_api_key
    module.is_loopback = is_loopback
    module.serve = serve
    monkeypatch.setitem(sys.modules, "skyplex.gateway.server", module)
    return calls


def test_serve_prints_a_new_key_and_how_to_use_it(run, fake_gateway, data_dir):
    result = run("serve", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert "Created a new API key" in result.stderr and "sk-test-123" in result.stderr
    assert 'curl -H "Authorization: Bearer sk-test-123" http://127.0.0.1:8123/v1/plugins' in result.stderr
    call = fake_gateway["serve"]
    assert (call["host"], call["port"], call["auth"], call["api_key"]) == ("127.0.0.1", 8123, True, "sk-test-123")
    assert isinstance(call["kernel"], Kernel) and fake_gateway["key_dir"] == data_dir


def test_serve_with_a_stored_key_does_not_print_it(run, fake_gateway):
    fake_gateway["created"] = False
    result = run("serve")
    assert result.exit_code == 0
    assert "sk-test-123" not in result.output and "$SKYPLEX_API_KEY" in result.stderr


def test_serve_options(run, fake_gateway):
    assert run("serve", "--api-key", "mine").exit_code == 0
    assert fake_gateway["serve"]["api_key"] == "mine" and "key_dir" not in fake_gateway
    assert run("-v", "serve", "--no-auth").exit_code == 0
    assert fake_gateway["serve"]["auth"] is False and fake_gateway["serve"]["log_level"] == "debug"
    refused = run("serve", "--no-auth", "--host", "0.0.0.0")
    assert_one_line_error(refused, "--no-auth", "loopback", "0.0.0.0")
    assert len(refused.stderr.strip().splitlines()) == 1  # no "auth is off" notes before the refusal
    assert_one_line_error(run("serve", "--port", "70000"), "--port")
    assert_one_line_error(run("serve", "--no-auth", "--api-key", "x"), "--no-auth")


# --------------------------------------------------------------------------------------------------
# new-plugin


def test_new_plugin_passes_its_options_to_the_scaffold(run, monkeypatch, tmp_path):
    calls = []
    module = types.ModuleType("skyplex.scaffold")

    def render_plugin(name, dest, kind="evaluator"):
        calls.append((name, Path(dest), kind))
        if kind != "evaluator":
            raise InvalidInputError(f"no plugin template for kind {kind!r}; kinds with a template: evaluator",
                                    field="kind")  # fmt: skip
        return Path(dest) / name

    from skyplex.scaffold import next_steps

    module.render_plugin = render_plugin
    module.next_steps = next_steps
    monkeypatch.setitem(sys.modules, "skyplex.scaffold", module)
    result = run("new-plugin", "my_eval", "--dest", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert calls == [("my_eval", tmp_path, "evaluator")]
    made = tmp_path / "my_eval"
    assert f'pip install -e "{made}[test]"' in result.stdout
    assert_one_line_error(run("new-plugin", "x", "--kind", "teleporter"), "teleporter")


def test_new_plugin_renders_a_real_plugin(run, tmp_path):
    pytest.importorskip("skyplex.scaffold")
    dest = tmp_path / "cli_made"
    result = run("new-plugin", "cli_made", "--dest", str(dest))
    assert result.exit_code == 0, result.output
    assert (dest / "pyproject.toml").is_file() and (dest / "src" / "skyplex_cli_made").is_dir()
    assert_one_line_error(run("new-plugin", "cli_made", "--dest", str(dest)), "--dest", "already exists")
    assert_one_line_error(run("new-plugin", "Bad-Name", "--dest", str(tmp_path / "b")), "invalid plugin name")


# --------------------------------------------------------------------------------------------------
# the real local model (slow: loads SmolLM2 once per machine into the shared test data dir)


@pytest.mark.slow
def test_generate_with_the_local_model(test_data_dir):
    argv = ["--data-dir", str(test_data_dir), "models", "generate", "-m", "local",
            "The capital of France is", "Water is", "--max-tokens", "3", "--logprobs", "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, argv, obj=CliState(kernel_factory()), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["completions"]) == 2
    for completion in out["completions"]:
        assert 1 <= completion["usage"]["completion_tokens"] <= 3
        assert len(completion["logprobs"]) == completion["usage"]["completion_tokens"]
    # greedy decoding is deterministic: the plain-text run prints the same first completion
    plain = CliRunner().invoke(cli, argv[:-4] + ["--max-tokens", "3"], obj=CliState(kernel_factory()))
    assert plain.exit_code == 0, plain.output
    first, second = (c["text"] for c in out["completions"])
    assert plain.stdout == f"─── 1: The capital of France is\n{first}\n─── 2: Water is\n{second}\n"


@pytest.mark.slow
def test_chat_with_the_local_model_from_a_pipe(test_data_dir):
    argv = ["--data-dir", str(test_data_dir), "models", "chat", "-m", "local", "--max-tokens", "4"]
    result = CliRunner().invoke(
        cli, argv, obj=CliState(kernel_factory()), input="Hello!\nWhat is 2+2?\n/exit\n", catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2  # one streamed reply per message


@pytest.mark.slow
def test_serve_starts_the_real_gateway(data_dir):
    pytest.importorskip("skyplex.gateway.server")
    httpx = pytest.importorskip("httpx")
    skyplex_executable()  # skips where the console script is not installed
    env = {"SKYPLEX_DATA_DIR": str(data_dir), "SKYPLEX_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with gateway_process(env=env) as gateway:
        text = gateway.log_text()
        assert "Created a new API key" in text
        key = text.split("Bearer ")[1].split('"')[0]
        assert httpx.get(f"{gateway.url}/v1/plugins", timeout=5).status_code == 401
        ok = httpx.get(f"{gateway.url}/v1/plugins", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert ok.status_code == 200
