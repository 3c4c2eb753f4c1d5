"""``skyplex llmsql query|plan``: the command-line face of the plugin, on the kernel's CLI helpers
(the invocation's kernel, ``--json`` here or on the root group, errors as one line with exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from skyplex.cli import emit, ensure_state, json_option, pass_kernel

from .plan import ALGORITHMS


def _console() -> Any:
    """The invocation's rich console, for the human-readable tables."""
    return ensure_state(click.get_current_context()).out


def _tables(values: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for item in values:
        name, sep, path = item.partition("=")
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"{item!r} is not NAME=FILE.csv", param_hint="--table")
        out[name] = Path(path)
    return out


@click.group("llmsql")
def llmsql() -> None:
    """LLM-SQL: LLM calls inside SQL, reordered and deduplicated for prefix-cache reuse."""


@llmsql.command("query")
@click.argument("sql")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="DuckDB database file (default: an in-memory database).")
@click.option("--table", "tables", multiple=True, help="Register a CSV file as a table: NAME=FILE.csv (repeatable).")
@click.option("--model", default="local", show_default=True, help="Kernel model backend to call.")
@click.option("--max-tokens", type=click.IntRange(1, 32768), default=32, show_default=True, help="Tokens per LLM answer.")
@click.option("--algorithm", type=click.Choice(ALGORITHMS), default="ggr", show_default=True,
              help="How to order rows and fields before calling the model.")
@click.option("--on-error", type=click.Choice(["fail", "null"]), default="fail", show_default=True,
              help="fail: one failed row fails the query; null: failed rows get NULL and are reported.")
@click.option("--no-prefix-reuse", is_flag=True, help="Ask the backend not to reuse shared prefixes.")
@click.option("--no-chat-template", is_flag=True,
              help="Send prompts as raw text (base models) instead of one chat message each.")
@json_option
@pass_kernel
def query_cmd(kernel: Any, sql: str, db_path: Path | None, tables: tuple[str, ...], model: str,
              max_tokens: int, algorithm: str, on_error: str, no_prefix_reuse: bool, no_chat_template: bool,
              json_output: bool) -> None:
    """Run SQL whose SELECT/WHERE may call llm('template', col, ...)."""
    from skyplex.interfaces.model import GenerationParams

    from .duckdb_engine import connect
    from .execution import ExecutionOptions

    if db_path is not None and not db_path.exists():
        raise click.BadParameter(f"no DuckDB database at {db_path}", param_hint="--db")
    options = ExecutionOptions(algorithm=algorithm, on_error=on_error, prefix_reuse=not no_prefix_reuse,
                               chat=not no_chat_template)
    tables_given = _tables(tables)
    # the model is looked up when a query first calls llm(): plain SQL needs none
    with connect(str(db_path) if db_path else ":memory:", tables=tables_given, model=model, kernel=kernel,
                 params=GenerationParams(max_tokens=max_tokens), options=options) as db:
        result = db.query(sql)
    emit({"columns": result.columns, "rows": [list(r) for r in result.rows], "calls": result.report()["calls"]},
         json_output=json_output, human=lambda _: _print_result(result))


def _print_result(result: Any) -> None:
    from rich.table import Table

    console = _console()
    t = Table()
    for c in result.columns:
        t.add_column(c, overflow="fold")
    for row in result.rows:
        t.add_row(*("NULL" if v is None else str(v) for v in row))
    console.print(t)
    for call in result.calls:
        m = call.plan_metrics
        console.print(
            f"llm({call.template[:40]!r}): {call.rows} rows, {call.distinct_prompts} distinct prompts, "
            f"{call.batches} batches, predicted char hit {m.get('char_hit_rate', 0):.1%} "
            f"(original {m.get('char_hit_rate_original', 0):.1%}), backend cached {call.token_hit_rate:.1%} "
            f"of prompt tokens, model {call.model_time_s:.2f}s, plan {call.solver_time_s:.3f}s"
            + (f", {len(call.errors)} row errors" if call.errors else "")
        )


@llmsql.command("plan")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--columns", help="Comma-separated columns to plan (default: all).")
@click.option("--algorithm", "algorithms", multiple=True, type=click.Choice(ALGORITHMS),
              help="Algorithms to compare (repeatable; default original, stats, ggr).")
@json_option
def plan_cmd(csv_file: Path, columns: str | None, algorithms: tuple[str, ...], json_output: bool) -> None:
    """Predicted prefix hit rates of a CSV table's rows under each algorithm."""
    import csv

    from .plan import plan_table

    try:
        with csv_file.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise click.BadParameter(f"{csv_file} is empty", param_hint="CSV_FILE")
            data_rows = list(reader)
    except UnicodeDecodeError:
        raise click.BadParameter(f"{csv_file} is not UTF-8 text; give a CSV file", param_hint="CSV_FILE") from None
    except csv.Error as exc:
        raise click.BadParameter(f"{csv_file} is not a readable CSV file: {exc}", param_hint="CSV_FILE") from None
    wanted = [c.strip() for c in columns.split(",")] if columns else header
    unknown = [c for c in wanted if c not in header]
    if unknown:
        raise click.BadParameter(f"unknown column(s) {unknown}; the file has {header}", param_hint="--columns")
    idx = [header.index(c) for c in wanted]
    cols = [[row[i] if i < len(row) else "" for row in data_rows] for i in idx]
    results = {a: plan_table(cols, wanted, algorithm=a).metrics for a in (algorithms or ("original", "stats", "ggr"))}
    emit(results, json_output=json_output, human=lambda data: _print_plans(csv_file, len(data_rows), wanted, data))


def _print_plans(csv_file: Path, rows: int, fields: list[str], results: dict[str, dict[str, float]]) -> None:
    from rich.table import Table

    t = Table(title=f"{csv_file.name}: {rows} rows, {len(fields)} fields")
    for c in ("algorithm", "proxy hit", "char hit", "distinct rows", "solver s"):
        t.add_column(c)
    for a, m in results.items():
        t.add_row(a, f"{m['proxy_hit_rate']:.1%}", f"{m['char_hit_rate']:.1%}", f"{m['distinct_rows']:.0f}",
                  f"{m['solver_time_s']:.3f}")
    _console().print(t)


def register(cli: click.Group) -> None:
    """Add ``skyplex llmsql ...`` to the root command group."""
    cli.add_command(llmsql)
