"""The running batch's keys/values in preallocated buffers: one slot (row) per request, reused.

A decode step used to grow every layer's keys and values with ``torch.cat`` (a copy of the whole
cache per layer per step) and rebuild them whenever a request joined or left. Here each layer owns
one buffer ``[row slots, kv_heads, columns, head_dim]`` and the attention mask one ``[row slots,
columns]``; the live region is rows ``[0, rows)`` and columns ``[start, end)``. Then

- a decode step writes one column in place (:meth:`SlotBatch.open_column`, then the model's cache
  update writes at ``end``, then :meth:`SlotBatch.close_column`);
- a request joining writes its prefilled rows into the next free slots, right-aligned so that every
  row's newest token sits in the same column; a prompt longer than the live region takes columns
  on the left (free when earlier trims left room there, otherwise one shift of the live region);
- a request leaving moves the last row into its slot (one row copied, not the whole batch), and
  columns no remaining row uses are dropped by moving ``start``;
- buffers grow geometrically when full and are kept for the next requests.

Masked-out cells hold zeros or keys/values of earlier requests, always finite, so they get weight
exactly zero in attention and every row computes what it computes alone, up to float rounding.

torch and transformers are imported inside functions so that importing skyplex stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: columns and rows a fresh buffer starts with (it grows by doubling)
INITIAL_COLUMNS = 256
INITIAL_ROWS = 4


class SlotBatch:
    """Keys/values and attention mask of the running batch; see the module docstring.

    :attr:`cache` is what the model is called with (a transformers ``Cache`` whose layers read and
    write these buffers); :meth:`mask` is the matching 2-D attention mask.
    """

    def __init__(self, layers: int, kv_heads: int, head_dim: int, dtype: Any, device: Any = "cpu") -> None:
        from transformers.cache_utils import Cache

        self.shape = (layers, kv_heads, head_dim)
        self.dtype, self.device = dtype, device
        self.rows = 0
        self.start = self.end = 0
        self._row_capacity = 0
        self._column_capacity = 0
        self.keys: list[Any] = []
        self.values: list[Any] = []
        self._mask: Any = None
        self._allocate(INITIAL_ROWS, INITIAL_COLUMNS, shift=0)
        self.cache = Cache(layers=[_SlotLayer(self, i) for i in range(layers)])
        #: buffer reallocations so far (growth), and live-region shifts (a longer prompt joined)
        self.grows = 0
        self.shifts = 0

    @property
    def width(self) -> int:
        """Columns in the live region (the longest row's tokens, with padding)."""
        return self.end - self.start

    def mask(self) -> Any:
        """The live attention mask [rows, width] (a view; 1 for a real token)."""
        return self._mask[: self.rows, self.start : self.end]

    def mask_with_next(self) -> Any:
        """The live mask and the column :meth:`open_column` opened [rows, width + 1] (a view)."""
        return self._mask[: self.rows, self.start : self.end + 1]

    def layer(self, index: int) -> tuple[Any, Any]:
        """Live keys and values of one layer, each [rows, kv_heads, width, head_dim] (views)."""
        return (
            self.keys[index][: self.rows, :, self.start : self.end],
            self.values[index][: self.rows, :, self.start : self.end],
        )

    # requests joining and leaving -----------------------------------------------------------
    def add_rows(self, layers: Sequence[tuple[Any, Any]], mask: Any) -> None:
        """Append prefilled rows: per layer (keys, values) [n, kv_heads, w, head_dim] and their mask [n, w]."""
        n, w = mask.shape
        if self.rows == 0:
            self.start = self.end = 0
        if w > self.width:
            self._widen_left(w - self.width)
        if self.end > self._column_capacity:  # cannot happen; guards the arithmetic above
            raise AssertionError("slot batch columns out of range")
        self._reserve(rows=self.rows + n, columns_right=0)
        top, bottom = self.rows, self.rows + n
        for index, (k, v) in enumerate(layers):
            self.keys[index][top:bottom, :, self.end - w : self.end] = k
            self.values[index][top:bottom, :, self.end - w : self.end] = v
        self._mask[top:bottom, self.start : self.end - w] = 0
        self._mask[top:bottom, self.end - w : self.end] = mask
        self.rows = bottom

    def remove_rows(self, rows: Sequence[int]) -> list[int]:
        """Drop ``rows``; returns, for each slot now live, the row index it held before (the caller
        reorders its own per-row lists the same way). Trims columns that no remaining row uses."""
        order = list(range(self.rows))
        for row in sorted(set(rows), reverse=True):
            last = self.rows - 1
            if row != last:  # the last row moves into the freed slot
                for buffers in (self.keys, self.values):
                    for buf in buffers:
                        buf[row, :, self.start : self.end] = buf[last, :, self.start : self.end]
                self._mask[row, self.start : self.end] = self._mask[last, self.start : self.end]
                order[row] = order[last]
            order.pop()
            self.rows = last
        if self.rows == 0:
            self.start = self.end = 0
            return order
        used = self.mask().any(0)
        first = int(used.long().argmax())
        self.start += first
        return order

    def clear(self) -> None:
        """No rows any more (buffers are kept for the next requests)."""
        self.rows = 0
        self.start = self.end = 0

    # decode steps ----------------------------------------------------------------------------
    def open_column(self) -> None:
        """Make room for one more token per row and mark it real; the model's update writes it."""
        self._reserve(rows=self.rows, columns_right=1)
        self._mask[: self.rows, self.end] = 1

    def close_column(self) -> None:
        """The model has written the new column: it becomes part of the live region."""
        self.end += 1

    # buffers ---------------------------------------------------------------------------------
    def _reserve(self, *, rows: int, columns_right: int) -> None:
        """Make sure ``rows`` slots and ``columns_right`` more columns after ``end`` exist."""
        need_columns = self.end + columns_right
        if rows <= self._row_capacity and need_columns <= self._column_capacity:
            return
        wanted = self.width + columns_right
        if rows <= self._row_capacity and wanted <= self._column_capacity // 2:
            self._move(0)  # enough room once the live region starts at column 0
            return
        new_rows = max(self._row_capacity, INITIAL_ROWS)
        while new_rows < rows:
            new_rows *= 2
        new_columns = self._column_capacity
        if need_columns > self._column_capacity:
            while new_columns < 2 * wanted:
                new_columns *= 2
        self._allocate(new_rows, new_columns, shift=0)
        self.grows += 1

    def _widen_left(self, extra: int) -> None:
        """Add ``extra`` columns before the live region (masked out for the rows already there)."""
        if self.start < extra:
            room = self._column_capacity - self.width - extra
            if room < 0:
                columns = self._column_capacity
                while columns < self.width + extra + 1:
                    columns *= 2
                self._allocate(self._row_capacity, columns, shift=extra)
                self.grows += 1
            else:
                self._move(extra)
                self.shifts += 1
        self.start -= extra
        self._mask[: self.rows, self.start : self.start + extra] = 0

    def _move(self, new_start: int) -> None:
        """Move the live region to begin at column ``new_start`` (same buffers)."""
        width, rows = self.width, self.rows
        if rows:
            for buffers in (self.keys, self.values):
                for buf in buffers:
                    live = buf[:rows, :, self.start : self.end].clone()
                    buf[:rows, :, new_start : new_start + width] = live
            live_mask = self._mask[:rows, self.start : self.end].clone()
            self._mask[:rows, new_start : new_start + width] = live_mask
        self.start, self.end = new_start, new_start + width

    def _allocate(self, rows: int, columns: int, *, shift: int) -> None:
        """New zeroed buffers of the given size; the live region is copied to begin at column ``shift``."""
        import torch

        layers, kv_heads, head_dim = self.shape
        keys = [torch.zeros((rows, kv_heads, columns, head_dim), dtype=self.dtype, device=self.device) for _ in range(layers)]
        values = [torch.zeros_like(k) for k in keys]
        mask = torch.zeros((rows, columns), dtype=torch.long, device=self.device)
        width, live = self.width, self.rows
        if live and width:
            for new, old in zip(keys, self.keys):
                new[:live, :, shift : shift + width] = old[:live, :, self.start : self.end]
            for new, old in zip(values, self.values):
                new[:live, :, shift : shift + width] = old[:live, :, self.start : self.end]
            mask[:live, shift : shift + width] = self._mask[:live, self.start : self.end]
        self.keys, self.values, self._mask = keys, values, mask
        self._row_capacity, self._column_capacity = rows, columns
        self.start, self.end = shift, shift + width


def _slot_layer_class() -> type:
    from transformers.cache_utils import CacheLayerMixin

    class SlotLayer(CacheLayerMixin):
        """One model layer's view of a :class:`SlotBatch`: writes new tokens in place, returns the live region."""

        is_sliding = False
        is_compileable = False
        is_croppable = False

        def __init__(self, batch: SlotBatch, index: int) -> None:
            self.batch, self.index = batch, index
            self.is_initialized = True

        @property
        def keys(self) -> Any:  # read by transformers for the batch size, dtype and device
            return self.batch.layer(self.index)[0]

        @property
        def values(self) -> Any:
            return self.batch.layer(self.index)[1]

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:  # buffers exist already
            return None

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            b = self.batch
            t = key_states.shape[2]
            stop = b.end + t
            keys, values = b.keys[self.index], b.values[self.index]
            keys[: b.rows, :, b.end : stop] = key_states
            values[: b.rows, :, b.end : stop] = value_states
            return keys[: b.rows, :, b.start : stop], values[: b.rows, :, b.start : stop]

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.batch.width + query_length, 0

        def get_seq_length(self) -> int:
            return self.batch.width

        def get_max_length(self) -> int:
            return -1

    return SlotLayer


_SLOT_LAYER: type | None = None


def _SlotLayer(batch: SlotBatch, index: int) -> Any:  # noqa: N802 - builds the class once, lazily
    global _SLOT_LAYER
    if _SLOT_LAYER is None:
        _SLOT_LAYER = _slot_layer_class()
    return _SLOT_LAYER(batch, index)
