"""Sources and sinks: getting Arrow record batches in and results out."""

from .sinks import (CallbackSink, CsvSink, JsonLinesSink, MemorySink, ParquetSink, Sink,
                    as_sink)
from .sources import (CsvSource, IterableSource, JsonLinesSource, MultiFileSource, ParquetSource,
                      Source, StreamSource, TableSource, as_source, path_source, rechunk)
from .synthetic import TradesSource, trades_batches

__all__ = [
    "Source", "TableSource", "StreamSource", "IterableSource", "ParquetSource", "CsvSource",
    "JsonLinesSource", "MultiFileSource", "as_source", "path_source", "rechunk",
    "Sink", "MemorySink", "CallbackSink", "ParquetSink", "CsvSink", "JsonLinesSink", "as_sink",
    "TradesSource", "trades_batches",
]
