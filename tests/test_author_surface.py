"""The plugin-author surface: CLI helpers (kernel, --json, errors), the JSON encoder, the validation
helper and the fake and scripted model backends in skyplex.testing. Commands run through the real
root ``skyplex`` group, as a plugin's commands do."""

from __future__ import annotations

import datetime as dt
import enum
import gzip
import json
import math
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from skyplex import InvalidInputError, Kernel, Settings, hookimpl, make_plugin_manager
from skyplex.cli import CliState, emit, json_option, pass_kernel
from skyplex.cli.main import cli
from skyplex.encoding import dumps, to_jsonable
from skyplex.interfaces import ChatMessage, GenerationParams
from skyplex.testing import FakeModelBackend, ModelBackendConformance, ScriptedModelBackend
from skyplex.validation import validate

# --------------------------------------------------------------------------------------------------
# a plugin whose commands read files the way plugin commands do


class Options(BaseModel):
    slice_factor: int = Field(default=8, ge=1)
    name: str = "x"


class ReaderPlugin:
    @hookimpl
    def skyplex_register_commands(self, cli):
        @cli.group()
        def reader():
            """Commands that read their input like plugins do."""

        @reader.command("gz")
        @click.argument("path")
        def read_gz(path):
            with gzip.open(path, "rt") as fh:
                click.echo(len(fh.read()))

        @reader.command("json")
        @click.argument("path")
        def read_json(path):
            click.echo(json.loads(Path(path).read_text())["rate"])

        @reader.command("options")
        @click.argument("path")
        def read_options(path):
            click.echo(validate(Options, Path(path).read_text(), where="options").slice_factor)

        @reader.command("interrupt")
        def interrupt():
            raise KeyboardInterrupt

        @reader.command("bug")
        def bug():
            return 1 / 0

        @reader.command("models")
        @json_option
        @pass_kernel
        def models(kernel, json_output):
            emit({"models": kernel.models.names()}, json_output=json_output,
                 human=lambda data: click.echo("models: " + ", ".join(data["models"])))


@pytest.fixture
def run(tmp_path):
    def invoke(*args: str):
        pm = make_plugin_manager(builtins=True, entrypoints=False, extra=[("reader", ReaderPlugin())])
        state = CliState(lambda s: Kernel(settings=s, pm=pm))
        argv = ["--data-dir", str(tmp_path / "data"), *args]
        return CliRunner().invoke(cli, argv, obj=state, catch_exceptions=False)

    return invoke


def one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_corrupt_gzip_is_bad_input_not_an_interrupt(run, tmp_path):
    bad = tmp_path / "trace.csv.gz"
    bad.write_bytes(b"this is not gzip at all")
    result = run("reader", "gz", str(bad))
    assert result.exit_code == 2
    assert "not a valid compressed file" in one_error_line(result)


def test_truncated_gzip_is_bad_input_not_an_interrupt(run, tmp_path):
    whole = gzip.compress(b"input_tokens,output_tokens\n" + b"10,20\n" * 5000)
    cut = tmp_path / "trace.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])  # ends in EOFError inside gzip
    result = run("reader", "gz", str(cut))
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "truncated" in line and "interrupted" not in line


def test_ctrl_c_is_an_interrupt(run):
    result = run("reader", "interrupt")
    assert result.exit_code == 130
    assert one_error_line(result) == "error: interrupted"


def test_missing_file_names_it(run, tmp_path):
    result = run("reader", "json", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "nope.json" in one_error_line(result)


def test_malformed_json_says_where(run, tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"rate": 1,,}')
    result = run("reader", "json", str(path))
    assert result.exit_code == 2
    assert "invalid JSON at line 1 column" in one_error_line(result)


def test_missing_key_names_the_field(run, tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"rates": 1}')
    result = run("reader", "json", str(path))
    assert result.exit_code == 2
    assert "'rate'" in one_error_line(result)


def test_validation_error_names_the_field(run, tmp_path):
    path = tmp_path / "o.json"
    path.write_text('{"slice_factor": 0}')
    result = run("reader", "options", str(path))
    assert result.exit_code == 2
    assert "options.slice_factor" in one_error_line(result)


def test_a_bug_is_exit_1_with_the_cause_and_a_hint(run):
    result = run("reader", "bug")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "ZeroDivisionError" in line and "-v" in line


@pytest.mark.parametrize("argv", [("--json", "reader", "models"), ("reader", "models", "--json")])
def test_json_output_from_either_flag(run, argv):
    result = run(*argv)
    assert result.exit_code == 0, result.output
    assert "local" in json.loads(result.stdout)["models"]


def test_human_output_without_json(run):
    result = run("reader", "models")
    assert result.stdout.startswith("models: ") and "local" in result.stdout


# --------------------------------------------------------------------------------------------------
# the JSON encoder


class Colour(enum.Enum):
    RED = "red"


json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.datetimes(), st.dates(), st.sampled_from([Colour.RED]), st.binary(max_size=8),
    st.builds(Path, st.text(alphabet="abc/", min_size=1, max_size=6)),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.frozensets(st.integers(), max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), inner, max_size=4),
        st.tuples(inner, inner),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_encoder_always_produces_strict_json(value):
    text = dumps(value)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))


def test_encoder_rules():
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert to_jsonable({"when": stamp, "path": Path("/a/b"), "colour": Colour.RED, "ids": {3}}) == {
        "when": "2026-01-02T03:04:05", "path": "/a/b", "colour": "red", "ids": [3],
    }
    assert to_jsonable(GenerationParams(max_tokens=3))["max_tokens"] == 3
    assert json.loads(dumps({"x": math.nan, "y": [math.inf]})) == {"x": None, "y": [None]}
    np = pytest.importorskip("numpy")
    assert to_jsonable({"a": np.arange(3), "f": np.float32(0.5)}) == {"a": [0, 1, 2], "f": 0.5}


def test_cli_and_gateway_share_the_encoder():
    from skyplex.cli import output

    assert output.to_jsonable is to_jsonable


# --------------------------------------------------------------------------------------------------
# the validation helper


class Nested(BaseModel):
    requests: list[Options]


def test_validate_names_nested_fields_and_counts_the_rest():
    with pytest.raises(InvalidInputError) as info:
        validate(Nested, {"requests": [{"slice_factor": 1}, {"slice_factor": -1, "name": 5}]}, where="workload")
    err = info.value
    assert err.field == "workload.requests[1].slice_factor"
    assert "greater than or equal to 1" in err.message and "1 more error" in err.message
    assert "\n" not in err.message


def test_validate_option_style_names_the_cli_option():
    with pytest.raises(InvalidInputError, match="--max-tokens"):
        validate(GenerationParams, {"max_tokens": 0}, option_style=True)


def test_validate_takes_json_text_and_reports_bad_json():
    assert validate(Options, '{"slice_factor": 3}').slice_factor == 3
    with pytest.raises(InvalidInputError):
        validate(Options, "{not json")


@settings(max_examples=100, deadline=None)
@given(st.integers(max_value=0))
def test_validate_refuses_every_out_of_range_value(n):
    with pytest.raises(InvalidInputError) as info:
        validate(Options, {"slice_factor": n})
    assert info.value.field == "slice_factor" and str(n) in info.value.message


# --------------------------------------------------------------------------------------------------
# fake and scripted model backends


class TestFakeModelBackend(ModelBackendConformance):
    @pytest.fixture
    def backend(self):
        return FakeModelBackend(lambda prompt: "red green blue yellow orange purple")


class TestScriptedModelBackend(ModelBackendConformance):
    @pytest.fixture
    def backend(self):
        return ScriptedModelBackend(["SELECT name FROM users WHERE age > 30 ORDER BY name"], repeat=True)


def test_fake_echoes_the_last_line_of_text_and_chat():
    fake = FakeModelBackend()
    (a, b) = fake.generate(["Question?\nanswer this", [ChatMessage(role="user", content="hi there")]])
    assert (a.text, b.text) == ("answer this", "hi there")
    assert len(fake.calls) == 1 and len(fake.calls[0][0]) == 2


def test_scripted_replies_in_order_then_refuses():
    model = ScriptedModelBackend(["one", "two words"])
    outs = model.generate(["a", "b"], GenerationParams(max_tokens=8))
    assert [o.text for o in outs] == ["one", "two words"]
    assert [o.usage.completion_tokens for o in outs] == [1, 2]
    assert model.remaining == 0
    with pytest.raises(AssertionError, match="ran out of replies"):
        model.generate(["c"])


def test_scripted_by_substring():
    model = ScriptedModelBackend({"capital": "Paris", "colour": "blue"})
    assert model.generate(["the capital of France"])[0].text == "Paris"
    with pytest.raises(AssertionError, match="no scripted reply"):
        model.generate(["something else"])


def test_fakes_register_and_serve_through_a_kernel(tmp_path):
    class Models:
        @hookimpl
        def skyplex_register_models(self, register):
            register("scripted", lambda: ScriptedModelBackend(["hello"], repeat=True))

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("models", Models())])
    with Kernel(settings=Settings(data_dir=tmp_path), pm=pm, strict=True) as kernel:
        assert kernel.models.get("scripted").generate(["x"])[0].text == "hello"


def test_gateway_routes_answer_with_the_same_encoder(tmp_path):
    """A plugin route's result goes through skyplex.encoding: NaN is null (not a 500), as in --json."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from skyplex.gateway import create_app

    class Routes:
        @hookimpl
        def skyplex_register_routes(self, router, kernel):
            @router.get("/stats")
            def stats() -> dict:
                return {"mean": math.nan, "max": math.inf, "when": dt.datetime(2026, 1, 2), "ids": [1, 2]}

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("statsplug", Routes())])
    kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=pm)
    try:
        with TestClient(create_app(kernel, api_key="k")) as client:
            res = client.get("/plugins/statsplug/stats", headers={"Authorization": "Bearer k"})
        assert res.status_code == 200, res.text
        expected = {"mean": None, "max": None, "when": "2026-01-02T00:00:00", "ids": [1, 2]}
        assert res.json() == expected == json.loads(dumps({"mean": math.nan, "max": math.inf,
                                                             "when": dt.datetime(2026, 1, 2), "ids": [1, 2]}))
    finally:
        kernel.close()


# --------------------------------------------------------------------------------------------------
# the error mapping, searched: any exception a command raises becomes one line and a known status

import gzip as _gzip  # noqa: E402
import zlib as _zlib  # noqa: E402

from skyplex.cli.errors import EXIT_BAD_INPUT, EXIT_FAULT, EXIT_INTERRUPTED, explain  # noqa: E402

messages = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
bad_input_exceptions = st.one_of(
    messages.map(ValueError), messages.map(KeyError), messages.map(IndexError), messages.map(EOFError),
    messages.map(_gzip.BadGzipFile), messages.map(_zlib.error), messages.map(InvalidInputError),
    messages.map(lambda m: FileNotFoundError(2, "No such file or directory", m or "x")),
    messages.map(lambda m: PermissionError(13, "Permission denied", m or "x")),
    messages.map(lambda m: json.JSONDecodeError("Expecting value", m + "!", len(m))),
    st.builds(lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")),
)
fault_exceptions = st.one_of(messages.map(RuntimeError), messages.map(TypeError), messages.map(AttributeError),
                             messages.map(ZeroDivisionError), messages.map(AssertionError))


@settings(max_examples=300, deadline=None)
@given(bad_input_exceptions)
def test_bad_input_of_every_kind_is_one_line_exit_2(exc):
    message, code = explain(exc)
    assert code == EXIT_BAD_INPUT
    assert "\n" not in message and "\r" not in message and message.strip()


@settings(max_examples=200, deadline=None)
@given(fault_exceptions, st.booleans())
def test_faults_are_one_line_exit_1_naming_the_exception(exc, verbose):
    message, code = explain(exc, verbose=verbose)
    assert code == EXIT_FAULT
    assert "\n" not in message and type(exc).__name__ in message
    # the hint, not any "-v" (the exception's own text may hold one: hypothesis generated "-v")
    assert message.endswith(" (run with -v for the traceback)") is (not verbose)


def test_interrupts_and_click_wrapped_eof():
    import click

    assert explain(KeyboardInterrupt()) == ("interrupted", EXIT_INTERRUPTED)
    assert explain(click.Abort()) == ("interrupted", EXIT_INTERRUPTED)
    try:
        try:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        except EOFError as inner:
            raise click.Abort() from inner
    except click.Abort as wrapped:
        message, code = explain(wrapped)
    assert code == EXIT_BAD_INPUT and "truncated" in message
