"""The ``gpuvelo`` command line: run, explain, demo, version."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa

from .errors import GpuveloError
from .io import CsvSink, JsonLinesSink, MemorySink, TradesSource, trades_batches, as_sink, as_source

DEMO_QUERY = """\
SELECT symbol,
       COUNT(*)   AS trades,
       SUM(qty)   AS volume,
       AVG(price) AS avg_price,
       MIN(price) AS min_price,
       MAX(price) AS max_price
FROM trades
GROUP BY symbol
ORDER BY volume DESC
LIMIT 10"""


# --------------------------------------------------------------------------- arguments
def positive_int(text: str) -> int:
    """argparse type: an integer > 0 (underscores and commas allowed: 2_000_000, 2,000,000)."""
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def source_arg(text: str) -> tuple[str, str]:
    """argparse type: ``NAME=PATH``."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def duration_arg(text: str) -> int:
    """argparse type: a duration in milliseconds, from ``1500`` (ms) or ``500ms``, ``30s``,
    ``5m``, ``1h``, ``1d``."""
    from .exec.windows import duration_ms

    try:
        return duration_ms(text, "a duration")
    except GpuveloError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 500ms, 30s, 5m, "
                                         "1h, 1d, or a number of milliseconds)") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gpuvelo`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks for errors")
    engine = argparse.ArgumentParser(add_help=False)
    engine.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto",
                        help="where to compute (default: auto, the GPU when there is one)")
    engine.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                        help="rows per batch read from each source")
    engine.add_argument("--partitions", type=positive_int, default=None, metavar="N",
                        help="number of key partitions (default: the engine's choice)")
    engine.add_argument("--strategy", choices=("hash", "round_robin", "sticky", "smart"),
                        default=None, help="routing strategy (default: chosen from the query)")
    engine.add_argument("--progress", action="store_true",
                        help="draw a progress bar on stderr even when it is not a terminal")

    parser = argparse.ArgumentParser(
        prog="gpuvelo", description="Streaming SQL GROUP BY on the GPU (NumPy fallback).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    csvopts = argparse.ArgumentParser(add_help=False)
    csvopts.add_argument("--delimiter", metavar="CHAR", default=None,
                         help="field separator of CSV sources (default: ',' ; tab for .tsv; "
                         "'tab' or '\\t' for a tab)")
    csvopts.add_argument("--no-header", action="store_true",
                         help="CSV sources have no header line (columns column0, column1, ... "
                         "unless --columns; default: found out from the file, as DuckDB does)")
    csvopts.add_argument("--header", action="store_true",
                         help="the first line of CSV sources is a header (default: found out)")
    csvopts.add_argument("--columns", metavar="A,B,...", default=None,
                         help="column names of header-less CSV sources (with --no-header)")
    run = sub.add_parser("run", parents=[common, engine, csvopts], help="run a query over sources",
                         description="Run a query over sources; print or write the result.")
    run.add_argument("query", metavar="QUERY_OR_FILE", help="SQL text or a path to a .sql file")
    run.add_argument("--source", type=source_arg, action="append", default=[],
                     metavar="NAME=PATH", help="a table of the query and the file holding it "
                     "(.parquet, .csv/.tsv/.txt, .jsonl or a directory of Parquet files); repeatable")
    run.add_argument("--sink", "--output", "-o", dest="sink", metavar="PATH", default=None,
                     help="write the result to this file (.parquet, .csv, .jsonl) "
                     "instead of printing it")
    run.add_argument("--format", choices=("table", "csv", "json"), default="table",
                     help="how to print the result on stdout (default: table)")
    run.add_argument("--emit", choices=("changes", "final"), default=None,
                     help="emit mode (overrides the query's EMIT; default: final)")
    run.add_argument("--event-time", metavar="COLUMN", default=None,
                     help="the time column of a WINDOW clause that does not name one "
                     "(e.g. WINDOW TUMBLING (SIZE 1 MINUTE))")
    run.add_argument("--max-out-of-orderness", type=duration_arg, default=None, metavar="DURATION",
                     help="windows: how far behind the highest event time a row may be and "
                     "still count (500ms, 30s, 5m, 1h, 1d, or milliseconds; default: the "
                     "window's GRACE PERIOD, else 0)")
    run.add_argument("--late-sink", metavar="PATH", default=None,
                     help="windows: also write late rows, with the reason, to this file")

    explain = sub.add_parser("explain", parents=[common, engine, csvopts], help="show a query's plan",
                             description="Print the plan gpuvelo makes for a query.")
    explain.add_argument("query", metavar="QUERY_OR_FILE", help="SQL text or a path to a .sql file")
    explain.add_argument("--source", type=source_arg, action="append", default=[],
                         metavar="NAME=PATH", help="a table and its file, for its schema")

    demo = sub.add_parser("demo", parents=[common, engine],
                          help="run a GROUP BY over synthetic trades",
                          description="Generate a synthetic stream of trades in memory and "
                          "run a per-symbol GROUP BY over it.")
    demo.add_argument("--rows", type=positive_int, default=2_000_000, metavar="N",
                      help="rows to generate (default: 2,000,000)")

    sub.add_parser("version", parents=[common], help="print the version")
    return parser


# --------------------------------------------------------------------------- helpers
def read_query(text: str) -> str:
    """The query: the contents of the file when ``text`` names a file, else ``text``."""
    candidate = text.strip()
    if "\n" not in candidate and len(candidate) < 4096:
        path = Path(candidate)
        if path.is_file():
            return path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".sql":
            raise GpuveloError(f"{path}: no such query file")
    return text


def csv_options(args) -> dict:
    """CsvSource options from ``--delimiter``, ``--[no-]header`` and ``--columns``."""
    opts = {}
    if getattr(args, "delimiter", None) is not None:
        opts["delimiter"] = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    if getattr(args, "no_header", False) and getattr(args, "header", False):
        raise GpuveloError("--header and --no-header contradict each other: give one")
    if getattr(args, "no_header", False):
        opts["header"] = False
    elif getattr(args, "header", False):
        opts["header"] = True
    if getattr(args, "columns", None):
        if not getattr(args, "no_header", False):
            raise GpuveloError("--columns names the columns of files without a header: add --no-header")
        opts["column_names"] = [c.strip() for c in args.columns.split(",")]
    return opts


def open_sources(specs: list[tuple[str, str]], batch_size: int | None, csv: dict | None = None) -> dict:
    """Sources from ``NAME=PATH`` pairs, each named after its table (``csv``: options for
    CSV files)."""
    sources = {}
    for name, path in specs:
        if name in sources:
            raise GpuveloError(f"--source {name} given twice")
        sources[name] = as_source(path, batch_size=batch_size, name=name, csv_options=csv)
    return sources


def format_table(table: pa.Table) -> str:
    """An aligned text rendering of a (result-sized) table, NULL shown as NULL."""
    names = table.column_names
    cols = [[_cell(v) for v in table.column(n).to_pylist()] for n in names]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
               for t in table.schema.types]
    widths = [max([len(n)] + [len(c) for c in col]) for n, col in zip(names, cols)]

    def line(cells):
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric)).rstrip()

    out = [line(names), line(["-" * w for w in widths])]
    out += [line(row) for row in zip(*cols)]
    return "\n".join(out)


def _cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):       # a LIST, as DuckDB prints one: [1, NULL, 3]
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    if isinstance(value, float):
        if abs(value) >= 1e15 or (value and abs(value) < 1e-4) or value != value:
            return f"{value:.6g}"
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


class ProgressBar:
    """A one-line ``\\r`` progress bar on stderr, drawn from the sources' ``progress()``."""

    WIDTH = 30

    def __init__(self, sources: dict, enabled: bool, stream=None):
        self.sources, self.enabled = sources, enabled
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        """Redraw (at most ten times a second); the job calls this after each batch."""
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        self.draw(now)

    def draw(self, now: float | None = None) -> None:
        """Draw the bar now."""
        if not self.enabled:
            return
        now = now if now is not None else time.monotonic()
        done = total = 0
        known = True
        rows = 0
        for src in self.sources.values():
            d, t = src.progress()
            done += d
            known = known and t is not None
            total += t or 0
            rows += getattr(src, "rows_read", 0)
        rate = rows / max(now - self.start, 1e-9)
        if known and total:
            frac = min(done / total, 1.0)
            fill = int(frac * self.WIDTH)
            bar = f"[{'#' * fill}{'.' * (self.WIDTH - fill)}] {frac:6.1%}"
        else:
            bar = "[" + "?" * self.WIDTH + "]"
        with self._lock:
            self.stream.write(f"\r{bar}  {rows:,} rows  {rate:,.0f} rows/s ")
            self.stream.flush()
            self._drawn = True

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self.draw()
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def install_stop_handlers(job) -> None:
    """SIGINT/SIGTERM stop the job gracefully (it drains and writes final results);
    a second SIGINT aborts."""
    state = {"stopping": False}

    def handler(signum, frame):
        if state["stopping"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        state["stopping"] = True
        print("\ngpuvelo: stopping (draining; Ctrl-C again to abort)", file=sys.stderr)
        job.stop(graceful=True)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def run_job(query: str, sources: dict, sink, args):
    """Run a Job to completion with a progress bar and signal handling; return its stats."""
    from . import api

    bar = ProgressBar(sources, enabled=args.progress or sys.stderr.isatty())
    late_sink = getattr(args, "late_sink", None)
    job = api.Job(query, sources=sources, sink=sink, backend=args.backend,
                  batch_size=args.batch_size, partitions=args.partitions,
                  strategy=args.strategy, on_progress=bar, emit=getattr(args, "emit", None),
                  event_time=getattr(args, "event_time", None),
                  max_out_of_orderness=getattr(args, "max_out_of_orderness", None),
                  late_policy="sink" if late_sink else "drop", late_sink=late_sink)
    install_stop_handlers(job)
    try:
        return job.run()
    finally:
        bar.finish()


def report_set_aside(stats) -> None:
    """Say on stderr how many rows a windowed job left out (late, or without event time),
    so that a result missing them is never silent."""
    parts = []
    if stats.records_late:
        parts.append(f"{stats.records_late} late row(s) dropped (their window had closed; "
                     "allow more disorder with --max-out-of-orderness or GRACE PERIOD)")
    if stats.records_rejected:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.rejected_reasons.items()))
        parts.append(f"{stats.records_rejected} row(s) rejected ({reasons})")
    for part in parts:
        print(f"gpuvelo: note: {part}", file=sys.stderr)


def print_result(table: pa.Table, fmt: str) -> None:
    """Print a result on stdout as an aligned table (with a row count), CSV or JSON lines."""
    if fmt == "table":
        print(format_table(table))
        print(f"({table.num_rows} row{'' if table.num_rows == 1 else 's'})")
        return
    sys.stdout.flush()
    sink = CsvSink(sys.stdout.buffer) if fmt == "csv" else JsonLinesSink(sys.stdout.buffer)
    sink.set_schema(table.schema)
    sink.write(table)
    sink.close()


# --------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    query = read_query(args.query)
    sources = open_sources(args.source, args.batch_size, csv_options(args))
    sink = as_sink(args.sink) if args.sink else MemorySink()
    try:
        stats = run_job(query, sources, sink, args)   # the job closes its sinks
    finally:
        for src in sources.values():
            src.close()
    report_set_aside(stats)
    if args.sink:
        print(f"wrote {sink.rows_written} rows to {args.sink} "
              f"({stats.records_read} rows read in {stats.elapsed_s:.2f} s)", file=sys.stderr)
    else:
        print_result(sink.table(), args.format)
    return 0


def cmd_explain(args) -> int:
    from . import api

    sources = open_sources(args.source, None, csv_options(args))
    print(api.explain(read_query(args.query), sources=sources or None, backend=args.backend,
                      partitions=args.partitions, strategy=args.strategy))
    return 0


DEMO_PREGENERATE_ROWS = 20_000_000   # up to this many rows, generate before timing the job


def cmd_demo(args) -> int:
    batch = args.batch_size or 100_000
    print(f"generating {args.rows:,} synthetic trades in memory and running:\n{DEMO_QUERY}\n",
          file=sys.stderr)
    if args.rows <= DEMO_PREGENERATE_ROWS:      # time the engine, not the data generator
        t0 = time.perf_counter()
        source = pa.Table.from_batches(list(trades_batches(args.rows, batch_size=batch)))
        made = f"generated in {time.perf_counter() - t0:.2f} s; "
    else:                                        # stream it: memory stays flat
        source, made = TradesSource(args.rows, batch_size=batch, name="trades"), "generated while read; "
    sink = MemorySink()
    stats = run_job(DEMO_QUERY, {"trades": source}, sink, args)
    sink.close()
    print(format_table(sink.table()))
    rate = stats.records_read / max(stats.elapsed_s, 1e-9)
    print(f"{stats.records_read:,} rows in {stats.elapsed_s:.2f} s = {rate:,.0f} rows/s "
          f"({made}{stats.partitions} partition(s), {stats.strategy}) on backend {stats.backend}")
    return 0


def cmd_version(args) -> int:
    print(f"gpuvelo {version()}")
    return 0


def version() -> str:
    """The installed version (or the source tree's, when not installed)."""
    from importlib import metadata

    try:
        return metadata.version("gpuvelo")
    except metadata.PackageNotFoundError:
        import re

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            m = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
        except OSError:
            m = None
        return m.group(1) if m else "unknown"


COMMANDS = {"run": cmd_run, "explain": cmd_explain, "demo": cmd_demo, "version": cmd_version}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gpuvelo`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GpuveloError as e:
        if args.debug:
            raise
        print(f"gpuvelo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("gpuvelo: aborted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # e.g. `gpuvelo run ... | head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
