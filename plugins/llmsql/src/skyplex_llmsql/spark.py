"""LLM calls over Spark DataFrames (tables that outgrow one machine), with the same plan per partition.

:func:`llm_column` adds a column holding ``llm(template, *columns)`` for every row. Each partition
is collected in one Python worker, planned with the same algorithms (dedup, field order, GGR row
order) and sent to a model backend in prefix-sharing batches, as on DuckDB; results are matched
to rows by position inside the partition, so row order never matters. Repartitioning by a column
whose values repeat (``partition_by``) keeps rows that share a prefix in the same partition.

The backend is built on the worker by ``backend_factory`` (a picklable, zero-argument callable),
e.g. ``functools.partial(OpenAIBackend, base_url=..., model=...)`` for a vLLM server with prefix
caching; each worker then reads that server's prefix-cache counters like the DuckDB path does.
Needs ``pyspark`` (extra ``skyplex-llmsql[spark]``) and pandas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces.model import GenerationParams, ModelBackend

from .execution import ExecutionOptions, evaluate
from .prompts import PromptTemplate

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def llm_column(
    df: DataFrame,
    output: str,
    template: str,
    columns: Sequence[str],
    backend_factory: Callable[[], ModelBackend],
    *,
    params: GenerationParams | None = None,
    options: ExecutionOptions | None = None,
    partition_by: str | None = None,
    partitions: int | None = None,
) -> DataFrame:
    """``df`` with a string column ``output`` = ``llm(template, *columns)`` per row (NULL in, NULL out)."""
    from pyspark.sql.types import StringType, StructField, StructType

    columns = list(columns)
    unknown = [c for c in columns + ([partition_by] if partition_by else []) if c not in df.columns]
    if unknown:
        raise InvalidInputError(f"unknown column(s) {unknown}; the DataFrame has {df.columns}", field="columns")
    if output in df.columns:
        raise InvalidInputError(f"output column {output!r} already exists; choose another name", field="output")
    prompt = PromptTemplate(template, tuple(columns))  # validates the template before any job starts
    params = params or GenerationParams(max_tokens=32)
    options = options or ExecutionOptions()
    if partition_by is not None:
        df = df.repartition(partitions or df.rdd.getNumPartitions(), partition_by)
    schema = StructType([*df.schema.fields, StructField(output, StringType(), True)])
    run = _PartitionRunner(prompt, columns, output, backend_factory, params, options)
    return df.mapInPandas(run, schema=schema)


class _PartitionRunner:
    """The function each Spark worker runs on its partition (a picklable object, not a closure)."""

    def __init__(self, template: PromptTemplate, columns: list[str], output: str,
                 backend_factory: Callable[[], ModelBackend], params: GenerationParams,
                 options: ExecutionOptions) -> None:
        self.template, self.columns, self.output = template, columns, output
        self.backend_factory, self.params, self.options = backend_factory, params, options

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        frames = list(batches)  # the whole partition: planning needs all of its rows at once
        if not frames:
            return
        part = pd.concat(frames, ignore_index=True)
        rows = [tuple(_none_if_missing(v) for v in values)
                for values in part[self.columns].itertuples(index=False, name=None)]
        backend = self.backend_factory()
        try:
            results, report = evaluate(backend, self.template, rows, self.params, self.options)
        finally:
            backend.close()
        log.info("partition: %d rows, %d prompts, %d batches, cached %d/%d prompt tokens", report.rows,
                 report.distinct_prompts, report.batches, report.cached_prompt_tokens, report.prompt_tokens)
        part[self.output] = pd.Series(results, dtype=object)
        yield part


def _none_if_missing(value: Any) -> Any:
    # pandas turns NULLs into NaN/NaT/None depending on the column type
    try:
        import pandas as pd

        return None if pd.isna(value) else value
    except (TypeError, ValueError):  # arrays and other values pd.isna cannot judge as one
        return value
