"""Find ``llm(template, arg, ...)`` calls in a SQL query and plan them globally (with sqlglot).

Engines call Python functions on small chunks of rows, too small for reordering or deduplication to
pay. So the query is taken apart first: for each call site, a *materialisation query* selects the
call's arguments over the rows it will see (the same FROM, joins, GROUP BY and the WHERE conjuncts
that need no pending LLM result); the engine runs it, the whole set of argument tuples is planned
and sent to the model at once, and the call is rewritten into a lookup function that reads the
stored results. Calls in a WHERE clause run first, so a projection's LLM call only sees the rows
the filter kept (multi-LLM queries), and calls whose arguments contain other calls wait for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from skyplex.errors import InvalidInputError
from sqlglot import exp

LLM_FUNCTION = "llm"
LOOKUP_PREFIX = "__llmsql_result_"


@dataclass
class CallSite:
    """One ``llm(...)`` occurrence: its template, argument expressions and their names."""

    index: int
    node: exp.Anonymous
    template: str
    names: list[str]
    in_where: bool = False
    lookup_name: str = ""
    done: bool = False
    details: dict = field(default_factory=dict)

    @property
    def args(self) -> list[exp.Expression]:
        """The argument expressions as they stand now (inner calls may have been rewritten)."""
        return list(self.node.expressions[1:])


def parse(sql: str, dialect: str = "duckdb") -> exp.Expression:
    """Parse one SQL statement; a parse failure becomes an error that points at the spot."""
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInputError("the query is empty; pass one SQL statement", field="sql")
    try:
        # a lone ';' (after a comment, say) parses as a Semicolon node: no statement, and DuckDB runs nothing
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None and not isinstance(s, exp.Semicolon)]
    except sqlglot.errors.TokenError as exc:  # e.g. an unterminated string: no position is given
        raise InvalidInputError(f"cannot read the query: {str(exc).splitlines()[0] if str(exc) else 'bad token'}. "
                                "Check its quotes and brackets", field="sql") from None
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        near = f" near {first.get('highlight')!r}" if first.get("highlight") else ""
        raise InvalidInputError(
            f"cannot parse the query{where}{near}: {first.get('description', exc)}. Check the SQL syntax "
            f"({dialect} dialect)",
            field="sql",
        ) from None
    except sqlglot.errors.SqlglotError as exc:
        raise InvalidInputError(f"cannot read the query: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                                field="sql") from None
    if len(statements) != 1:
        raise InvalidInputError(f"pass exactly one SQL statement, got {len(statements)}", field="sql")
    return statements[0]


def call_sites(tree: exp.Expression) -> list[CallSite]:
    """Every ``llm(...)`` call in the query, validated, innermost calls first."""
    sites = []
    nodes = [n for n in tree.find_all(exp.Anonymous) if n.name.lower() == LLM_FUNCTION]
    for i, node in enumerate(reversed(nodes)):  # find_all is breadth-first: reversed puts inner calls first
        if not node.expressions:
            raise InvalidInputError("llm() needs a prompt template as its first argument", field="sql")
        first, *args = node.expressions
        if not (isinstance(first, exp.Literal) and first.is_string):
            raise InvalidInputError(
                f"the first argument of llm() must be a string literal prompt template, got {first.sql()!r}",
                field="sql",
            )
        names = _argument_names(args)
        sites.append(CallSite(index=i, node=node, template=first.this, names=names,
                              in_where=node.find_ancestor(exp.Where) is not None,
                              lookup_name=f"{LOOKUP_PREFIX}{i}"))
    return sites


def _argument_names(args: list[exp.Expression]) -> list[str]:
    names: list[str] = []
    for arg in args:
        name = arg.name if isinstance(arg, exp.Column) and arg.name else arg.sql(dialect="duckdb")
        base, k = name, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


def _pending(node: exp.Expression) -> bool:
    return any(n.name.lower() == LLM_FUNCTION for n in node.find_all(exp.Anonymous))


def ready(site: CallSite) -> bool:
    """Whether a call can run now: its arguments hold no pending call, and (outside WHERE) its
    SELECT's WHERE holds none either, so it only sees rows the LLM filters kept."""
    if any(_pending(a) for a in site.args):
        return False
    if site.in_where:
        return True
    select = site.node.find_ancestor(exp.Select)
    where = select.args.get("where") if select is not None else None
    return where is None or not _pending(where)


def materialisation_queries(tree: exp.Expression, site: CallSite, dialect: str = "duckdb") -> list[str]:
    """Queries returning the call's argument tuples (as text columns ``a0..``), best first.

    The first keeps GROUP BY/HAVING (arguments that aggregate need them); the second drops them
    (a call whose SELECT groups by the call's own alias). Both over-approximate when they must
    (dropping an ORDER BY with a LIMIT, or a WHERE conjunct that needs a pending call): extra rows
    only cost extra calls, never wrong results.
    """
    select = site.node.find_ancestor(exp.Select)
    if select is None:  # e.g. `SELECT llm('hi')` has a select; a bare expression has none
        raise InvalidInputError("llm() must appear inside a SELECT statement", field="sql")
    base = select.copy()
    if not site.args:
        base.set("expressions", [exp.alias_(exp.Literal.number(1), "a_const")])
    else:
        base.set("expressions", [exp.alias_(exp.cast(a.copy(), "VARCHAR"), f"a{i}") for i, a in enumerate(site.args)])
    base.set("distinct", None)
    if base.args.get("order") is not None:
        base.set("order", None)
        base.set("limit", None)
        base.set("offset", None)
    where = base.args.get("where")
    if where is not None:
        kept = [c for c in _conjuncts(where.this) if not _pending(c)]
        base.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    if not (base.args.get("with_") or base.args.get("with")):
        ctes = tree.args.get("with_") or tree.args.get("with")
        if ctes is not None and select is not tree:
            base.set("with_", ctes.copy())
    having = base.args.get("having")
    if having is not None and _pending(having):
        base.set("having", None)
    queries = [base.sql(dialect=dialect)]
    if base.args.get("group") is not None:
        flat = base.copy()
        flat.set("group", None)
        flat.set("having", None)
        queries.append(flat.sql(dialect=dialect))
    return queries


def argument_types_queries(tree: exp.Expression, site: CallSite, dialect: str = "duckdb") -> list[str]:
    """Like the materialisation queries but with the raw (uncast) arguments and no rows, so the
    engine can report non-text argument types before anything runs."""
    out = []
    for sql in materialisation_queries(tree, site, dialect):
        query = parse(sql, dialect)
        if site.args:
            query.set("expressions", [exp.alias_(a.copy(), f"a{i}") for i, a in enumerate(site.args)])
        query.set("limit", exp.Limit(expression=exp.Literal.number(0)))
        out.append(query.sql(dialect=dialect))
    return out


def replace_with_lookup(site: CallSite) -> None:
    """Rewrite the call into ``<lookup_name>(CAST(arg AS VARCHAR), ...)``, in place."""
    args = [exp.cast(a.copy(), "VARCHAR") for a in site.args]
    site.node.replace(exp.Anonymous(this=site.lookup_name, expressions=args))
    site.done = True


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return _conjuncts(node.this)
    return [node]
