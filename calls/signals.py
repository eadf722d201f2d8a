"""Signals of the call log, for the apps above it."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that writes call rows, with ``records`` (the
# CallRecords written). Sent for single and batched writes alike: batched rows
# go in by COPY or bulk_create, which send no post_save. A receiver that raises
# rolls the write back, so receivers do only what must commit with the rows.
calls_written = Signal()
