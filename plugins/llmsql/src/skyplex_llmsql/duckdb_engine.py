"""LLM queries on DuckDB (the embedded default): ``SELECT llm('...', col) FROM t WHERE ...``.

:class:`LLMSQL` plans every ``llm()`` call of a query globally (see :mod:`.sql_plan`): materialise
the arguments, deduplicate, reorder, run through a kernel model backend, then register a lookup
function per call and run the rewritten query, so DuckDB joins each result back to its own row.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyplex.errors import InvalidInputError, SkyplexError
from skyplex.interfaces.model import GenerationParams, ModelBackend

from . import sql_plan
from .execution import CallReport, ExecutionOptions, LLMRowErrors, evaluate
from .prompts import PromptTemplate

if TYPE_CHECKING:
    import duckdb
    from skyplex import Kernel

log = logging.getLogger(__name__)

#: DuckDB types that have no meaningful text form for a prompt
_NON_TEXT = ("BLOB", "[]", "STRUCT", "MAP", "UNION", "BIT")


@dataclass
class QueryResult:
    """Rows of a query, its column names, and one report per ``llm()`` call site."""

    columns: list[str]
    rows: list[tuple]
    calls: list[CallReport] = field(default_factory=list)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def report(self) -> dict[str, Any]:
        return {"rows": len(self.rows), "calls": [c.to_dict() for c in self.calls]}


class LLMSQL:
    """A DuckDB database whose SQL can call ``llm(template, col, ...)``.

    ``database`` is a DuckDB file path, ``":memory:"`` or an open ``duckdb`` connection. ``model``
    is a :class:`ModelBackend` or the name of one in ``kernel`` (default ``local``; a kernel is
    created on first use when none is given). ``params`` and ``options`` are the defaults for
    every query. One query runs at a time per instance.
    """

    def __init__(
        self,
        database: str | Path | duckdb.DuckDBPyConnection = ":memory:",
        *,
        model: ModelBackend | str = "local",
        kernel: Kernel | None = None,
        params: GenerationParams | None = None,
        options: ExecutionOptions | None = None,
        read_only: bool = False,
    ) -> None:
        import duckdb

        if isinstance(database, (str, Path)):
            if str(database) != ":memory:" and read_only and not Path(database).exists():
                raise InvalidInputError(f"DuckDB database {database} does not exist", field="db")
            try:
                self.con = duckdb.connect(str(database), read_only=read_only)
            except duckdb.Error as exc:
                raise InvalidInputError(f"cannot open DuckDB database {database}: {_first_line(exc)}",
                                        field="db") from None
            self._owns = True
        else:
            self.con, self._owns = database, False
        self._model = model
        self._kernel = kernel
        self._own_kernel = False
        self.params = params or GenerationParams(max_tokens=32)
        self.options = options or ExecutionOptions()
        self._lock = threading.Lock()
        #: an exception raised inside a lookup function during the running query (DuckDB wraps it)
        self._lookup_error: BaseException | None = None

    # set-up ------------------------------------------------------------------------------------
    @property
    def backend(self) -> ModelBackend:
        """The model backend queries run on (resolved from the kernel on first use)."""
        if isinstance(self._model, ModelBackend):
            return self._model
        if self._kernel is None:
            from skyplex import Kernel

            self._kernel, self._own_kernel = Kernel(), True
        self._model = self._kernel.models.get(self._model)
        return self._model

    def register(self, name: str, data: Any) -> None:
        """Make ``data`` queryable as table ``name``: a pandas DataFrame, a list of dicts, or a CSV path."""
        import duckdb

        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidInputError(f"table name {name!r} must be an identifier", field="name")
        if isinstance(data, (str, Path)):
            path = Path(data)
            if not path.is_file():
                raise InvalidInputError(f"no file {path} to register as table {name!r}", field=name)
            if path.stat().st_size == 0:
                raise InvalidInputError(f"{path} is empty; a CSV table needs a header line and rows", field=name)
            # DDL cannot take prepared parameters (DuckDB 2 refuses them), so the path goes in as an
            # escaped literal; the view is TEMP so registering never writes into the user's database file
            literal = "'" + str(path.resolve()).replace("'", "''") + "'"
            try:
                self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM read_csv_auto({literal})')
            except duckdb.Error as exc:
                raise InvalidInputError(f"cannot read {path} as a CSV table {name!r}: {_first_line(exc)}",
                                        field=name) from None
            return
        if isinstance(data, list):
            import pandas as pd

            data = pd.DataFrame(data)
        self.con.register(name, data)

    def close(self) -> None:
        if self._owns:
            self.con.close()
        if self._own_kernel and self._kernel is not None:
            self._kernel.close()

    def __enter__(self) -> LLMSQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # queries -----------------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        *,
        params: GenerationParams | None = None,
        options: ExecutionOptions | None = None,
    ) -> QueryResult:
        """Run ``sql``; every ``llm()`` call is planned over all its rows before the query runs."""
        try:
            return self._query(sql, params or self.params, options or self.options)
        except RecursionError:  # sqlglot and the rewrite walk the tree recursively
            raise InvalidInputError("the query is nested too deeply to plan; flatten its expressions or "
                                    "subqueries", field="sql") from None

    def _query(self, sql: str, params: GenerationParams, options: ExecutionOptions) -> QueryResult:
        tree = sql_plan.parse(sql)
        sites = sql_plan.call_sites(tree)
        for site in sites:  # template mistakes (a placeholder naming no argument) fail before any call runs
            PromptTemplate(site.template, tuple(site.names))
        with self._lock:
            reports = [CallReport(template=s.template) for s in sites]
            stores: dict[int, dict[tuple, str | None]] = {}
            try:
                pending = list(sites)
                while pending:
                    site = next((s for s in pending if sql_plan.ready(s)), None)
                    if site is None:  # only possible with odd nesting: take any whose args are free
                        site = next(s for s in pending if not any(sql_plan._pending(a) for a in s.args))
                    pending.remove(site)
                    stores[site.index] = self._run_site(tree, site, params, options, reports[site.index])
                    self._register_lookup(site, stores[site.index], params, options, reports[site.index])
                    sql_plan.replace_with_lookup(site)
                rewritten = tree.sql(dialect="duckdb")
                log.debug("rewritten query: %s", rewritten)
                columns, rows = self._execute(rewritten)
            finally:
                for site in sites:
                    try:
                        self.con.remove_function(site.lookup_name)
                    except Exception:  # never registered (the query failed before it)
                        pass
        return QueryResult(columns=columns, rows=rows, calls=reports)

    def _execute(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Column names and rows of ``sql``; DuckDB's errors become errors about the query."""
        import duckdb

        self._lookup_error = None
        try:
            cursor = self.con.execute(sql)
            if not cursor.description:
                return [], []
            return [d[0] for d in cursor.description], cursor.fetchall()
        except duckdb.Error as exc:
            if self._lookup_error is not None:
                # raised inside one of our lookup functions (e.g. LLMRowErrors) and wrapped by DuckDB:
                # surface the original, with its own status
                raise self._lookup_error from None
            message = _first_line(exc)
            if isinstance(exc, (duckdb.InternalException, duckdb.FatalException)):
                raise SkyplexError(f"DuckDB failed internally on the query: {message}") from exc
            if isinstance(exc, duckdb.BinderException):
                reason = "the query refers to something that does not exist"
            elif isinstance(exc, duckdb.CatalogException):
                reason = "unknown table or function"
            elif isinstance(exc, duckdb.ParserException):
                reason = "DuckDB cannot parse the query"
            elif isinstance(exc, duckdb.PermissionException):
                reason = "the query asks for something this database does not allow"
            else:  # conversions, out-of-range values, unsupported features: all about the query's content
                reason = "DuckDB refused the query"
            raise InvalidInputError(f"{reason}: {message}", field="sql") from None

    def _run_site(self, tree: Any, site: sql_plan.CallSite, params: GenerationParams, options: ExecutionOptions,
                  report: CallReport) -> dict[tuple, str | None]:
        """Materialise the call's argument tuples, run them, and return results by argument tuple."""
        import duckdb

        self._check_types(tree, site)
        tuples: list[tuple] | None = None
        for query in sql_plan.materialisation_queries(tree, site):
            try:
                tuples = self.con.execute(query).fetchall()
                break
            except duckdb.Error as exc:
                log.debug("materialisation query failed (%s): %s", exc, query)
        if tuples is None:
            # e.g. a correlated subquery: leave every row to the lookup function's on-demand path
            log.warning("could not materialise the inputs of llm(%r, ...); calling it row chunk by chunk",
                        site.template[:40])
            return {}
        if not site.args:
            tuples = [()] if tuples else []
        distinct = list(dict.fromkeys(tuples))
        return self._evaluate(site, distinct, params, options, report)

    def _check_types(self, tree: Any, site: sql_plan.CallSite) -> None:
        import duckdb

        if not site.args:
            return
        cursor, problem = None, None
        for query in sql_plan.argument_types_queries(tree, site):
            try:
                cursor = self.con.execute(query)
                break
            except (duckdb.BinderException, duckdb.CatalogException) as exc:
                problem = problem or exc
            except duckdb.Error:
                pass  # e.g. a correlated reference: materialisation falls back, the query itself reports
        if cursor is None:
            if problem is not None:
                raise InvalidInputError(
                    f"the query around llm({site.template[:30]!r}, ...) is invalid: {_first_line(problem)}",
                    field="sql",
                ) from None
            return
        for name, desc in zip(site.names, cursor.description or []):
            type_name = str(desc[1]).upper()
            if any(t in type_name for t in _NON_TEXT):
                raise InvalidInputError(
                    f"llm() argument {name!r} has type {type_name}, which has no text form for a prompt; "
                    "convert it first (to_json(...), array_to_string(..., ', '), decode(...))",
                    field=name,
                )

    def _evaluate(self, site: sql_plan.CallSite, tuples: list[tuple], params: GenerationParams,
                  options: ExecutionOptions, report: CallReport) -> dict[tuple, str | None]:
        template = PromptTemplate(site.template, tuple(site.names))
        # run with NULL-on-error so failures can be reported by argument values, then apply the policy
        lenient = replace(options, on_error="null")
        results, part = evaluate(self.backend, template, tuples, params, lenient)
        for error in part.errors:
            error["arguments"] = dict(zip(site.names, tuples[error.pop("row")]))
        _merge(report, part)
        if part.errors and options.on_error == "fail":
            raise LLMRowErrors(part.errors, site.template)
        return dict(zip(tuples, results))

    def _register_lookup(self, site: sql_plan.CallSite, store: dict[tuple, str | None], params: GenerationParams,
                         options: ExecutionOptions, report: CallReport) -> None:
        import pyarrow as pa

        def lookup(*columns: Any) -> Any:
            keys = list(zip(*(c.to_pylist() for c in columns))) if columns else [()]
            missing = [k for k in dict.fromkeys(keys) if k not in store and None not in k]
            if missing:  # rows the materialisation did not foresee: run them now, same plan and rules
                try:
                    store.update(self._evaluate(site, missing, params, options, report))
                except Exception as exc:  # DuckDB wraps it; _execute raises this original instead
                    self._lookup_error = exc
                    raise
            return pa.array([store.get(k) for k in keys], type=pa.string())

        # DuckDB checks the arity through the signature; a variadic function must declare its own
        lookup.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(site.args))]
        )
        types = ["VARCHAR"] * len(site.args)
        self.con.create_function(site.lookup_name, lookup, types, "VARCHAR", type="arrow",
                                 null_handling="special", side_effects=False)


def _merge(total: CallReport, part: CallReport) -> None:
    total.rows += part.rows
    total.null_rows += part.null_rows
    total.distinct_prompts += part.distinct_prompts
    total.batches += part.batches
    total.prompt_tokens += part.prompt_tokens
    total.cached_prompt_tokens += part.cached_prompt_tokens
    total.solver_time_s += part.solver_time_s
    total.model_time_s += part.model_time_s
    total.errors.extend(part.errors)
    if part.plan_metrics and not total.plan_metrics:
        total.plan_metrics = part.plan_metrics


def _first_line(exc: BaseException) -> str:
    """DuckDB's message on one line: its first paragraph (the error and any "did you mean"), without
    the echoed query and caret that follow a blank line."""
    paragraph = str(exc).strip().split("\n\n", 1)[0]
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def connect(database: str | Path = ":memory:", *, tables: Mapping[str, Any] | None = None, **kwargs: Any) -> LLMSQL:
    """An :class:`LLMSQL` on ``database`` with ``tables`` (name -> DataFrame, rows or CSV path) registered."""
    db = LLMSQL(database, **kwargs)
    try:
        for name, data in (tables or {}).items():
            db.register(name, data)
    except BaseException:
        db.close()
        raise
    return db
