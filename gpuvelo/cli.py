"""The ``gpuvelo`` command line: run, explain, demo, version."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import unicodedata
from pathlib import Path

import pyarrow as pa

from .errors import GpuveloError, UnknownColumnError
from .io import CsvSink, JsonLinesSink, MemorySink, TradesSource, trades_batches, as_sink, as_source
from .io.sinks import duckdb_text

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
    run.add_argument("--dead-letter", metavar="PATH", default=None,
                     help="write the rows the job rejects (windows: a NULL event time), with "
                     "the reason, to this file")
    run.add_argument("--dask", metavar="SCHEDULER", default=None,
                     help="run the aggregation on a Dask cluster (tcp://host:8786, or 'local' for "
                     "a cluster of this machine's cores): the stream's files are split among "
                     "the workers (pip install 'gpuvelo[dask]')")

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
        try:
            is_file = path.is_file()
        except (OSError, ValueError):   # a long one-line query is no file name
            is_file = False
        if is_file:
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
    """An aligned text rendering of a (result-sized) table, NULL shown as NULL; values as
    DuckDB prints them (``true``, ``2024-01-01 10:00:00+00``, intervals ``30:00:00``, lists
    ``[1, NULL]``, structs ``{'k': v}``), floats with at most four decimals."""
    names = table.column_names
    cols = [_column_cells(table.column(n)) for n in names]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
               for t in table.schema.types]
    widths = [max([display_width(n)] + [display_width(c) for c in col]) for n, col in zip(names, cols)]

    def line(cells):
        return "  ".join(" " * (w - display_width(c)) + c if num else c + " " * (w - display_width(c))
                         for c, w, num in zip(cells, widths, numeric)).rstrip()

    out = [line(names), line(["-" * w for w in widths])]
    out += [line(row) for row in zip(*cols)]
    return "\n".join(out)


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: combining marks take none, wide (CJK) characters
    two, so that names such as 'Naz̧arābād' keep a table aligned."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF"
               else 1 for ch in text)


def _column_cells(column) -> list[str]:
    """The cells of one column as text (see :func:`format_table`)."""
    t = column.type
    if pa.types.is_floating(t):
        return [_cell(v) for v in column.to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = column.to_pylist()
    else:
        values = duckdb_text(column.combine_chunks(), float_text=_float_cells).to_pylist()
    return ["NULL" if v is None else v if v.isprintable() else v.translate(_ESCAPES) for v in values]


# a line break or tab inside a cell would break the table's rows: shown escaped
_ESCAPES = {**{c: f"\\x{c:02x}" for c in range(32)}, ord("\n"): "\\n", ord("\r"): "\\r",
            ord("\t"): "\\t", 0x7f: "\\x7f"}


def _float_cells(values: pa.Array) -> pa.Array:
    """Floats inside lists and structs, as :func:`_cell` writes them."""
    return pa.array([None if v is None else _cell(v) for v in values.to_pylist()], pa.string())


def _cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        if abs(value) >= 1e15 or (value and abs(value) < 1e-4) or value != value:
            return f"{value:.6g}"
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


class ProgressBar:
    """A one-line ``\\r`` progress bar on stderr, drawn from the sources' ``progress()``
    (``sources``: a dict of them, or a callable returning one when drawn)."""

    WIDTH = 30

    def __init__(self, sources: dict, enabled: bool, stream=None):
        self.sources, self.enabled = sources, enabled
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self._lock = threading.Lock()
        self._ticking: threading.Event | None = None

    def tick(self, every: float = 0.25) -> None:
        """Also redraw every ``every`` seconds from a thread of its own, until :meth:`finish`:
        the bar moves while stages run first (subqueries, window functions) and while a
        batch takes long."""
        if not self.enabled or self._ticking is not None:
            return
        self._ticking = stop = threading.Event()

        def loop():
            while not stop.wait(every):
                self()

        threading.Thread(target=loop, name="gpuvelo-progress", daemon=True).start()

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
        sources = self.sources() if callable(self.sources) else self.sources
        for src in sources.values():
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
        if self._ticking is not None:
            self._ticking.set()
        if self.enabled:
            self.draw()
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def running_source(job):
    """The source ``job`` reads now: that of the stage running first (a subquery, the input
    of window functions), else its own."""
    while getattr(job, "_current", None) is not None:
        job = job._current
    return job.source


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
                  late_policy="sink" if late_sink else "drop", late_sink=late_sink,
                  dead_letter=getattr(args, "dead_letter", None))
    if not sources:        # files named in the query: the job opened them
        bar.sources = lambda: {"input": running_source(job)}
    install_stop_handlers(job)
    bar.tick()
    try:
        return job.run()
    finally:
        bar.finish()


def report_set_aside(stats, late_sink: str | None = None, dead_letter: str | None = None) -> None:
    """Say on stderr how many rows a windowed job left out (late, or without event time),
    and where they were written, so that a result missing them is never silent."""
    parts = []
    if stats.records_late:
        parts.append(f"{stats.records_late} late row(s) dropped (their window had closed; "
                     "allow more disorder with --max-out-of-orderness or GRACE PERIOD"
                     + (f"; written to {late_sink})" if late_sink else
                        "; --late-sink PATH writes them)"))
    if stats.records_rejected:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.rejected_reasons.items()))
        parts.append(f"{stats.records_rejected} row(s) rejected ({reasons}"
                     + (f"; written to {dead_letter})" if dead_letter else
                        "; --dead-letter PATH writes them)"))
    for part in parts:
        print(f"gpuvelo: note: {part}", file=sys.stderr)


def print_result(table: pa.Table, fmt: str) -> None:
    """Print a result on stdout as an aligned table (with a row count), CSV or JSON lines."""
    if fmt == "table":
        print(format_table(table))
        print(f"({table.num_rows} row{'' if table.num_rows == 1 else 's'})")
        return
    sink = stdout_sink(fmt)
    sink.set_schema(table.schema)
    sink.write(table)
    sink.close()


def stdout_sink(fmt: str):
    """A sink printing CSV (``fmt`` 'csv') or JSON lines on stdout as results come."""
    sys.stdout.flush()
    return CsvSink(sys.stdout.buffer) if fmt == "csv" else JsonLinesSink(sys.stdout.buffer)


def report_stop(stats) -> None:
    """Say on stderr that a stopped job's result covers only the rows read before the stop."""
    if stats.stopped == "graceful":
        print(f"gpuvelo: note: stopped before the end of the input: the result covers the "
              f"{stats.records_read:,} rows read", file=sys.stderr)


def with_hint(error: GpuveloError, sources: dict) -> GpuveloError:
    """``error`` with a hint for a common command-line mistake: a table not given with
    --source, or a CSV file read with the wrong delimiter (one column named 'a;b;c')."""
    text = str(error)
    if "but no source of that name was given" in text and "--source" not in text:
        name = text.split("'")[1] if text.count("'") >= 2 else "NAME"
        if "." in name or "/" in name:     # a file name the query reader did not take
            return type(error)(f"{text}; files named in FROM are read by their extension: "
                               ".parquet/.pq, .csv/.tsv/.txt, .jsonl/.ndjson/.json (or give it "
                               "with --source t=PATH and read FROM t)")
        return type(error)(f"{text}; give it with --source {name}=PATH, or name the file in "
                           f"the query (FROM 'data.csv')")
    if isinstance(error, UnknownColumnError):
        for name, src in sources.items():
            try:
                columns = src.schema().names
            except Exception:   # noqa: BLE001 -- a hint only; the error stands as it is
                continue
            if len(columns) == 1 and any(d in columns[0] for d in ",;\t|"):
                return type(error)(f"{text}. Source '{name}' was read as one column named "
                                   f"{columns[0]!r}: is its delimiter right? (--delimiter)")
    return error


def check_backend(name: str) -> None:
    """GpuveloError, in the command line's words, when ``--backend gpu`` has no GPU to use."""
    from .backends import gpu_usable

    if name == "gpu" and not gpu_usable():
        raise GpuveloError("--backend gpu needs a usable CUDA GPU and CuPy; none was found "
                           "(use --backend cpu, or auto: the GPU when there is one)")


def check_outputs(args) -> None:
    """GpuveloError when two outputs (--sink, --late-sink, --dead-letter) name one file:
    each would overwrite the other."""
    seen: dict = {}
    for flag, path in (("--sink", args.sink), ("--late-sink", args.late_sink),
                       ("--dead-letter", args.dead_letter)):
        if path:
            key = Path(path).resolve()
            if key in seen:
                raise GpuveloError(f"{seen[key]} and {flag} both name {path}: give each its own file")
            seen[key] = flag


# --------------------------------------------------------------------------- commands
def run_dask(query: str, args) -> int:
    """``gpuvelo run --dask``: :func:`gpuvelo.distributed.run_on_dask` over the ``--source``
    files on the cluster, then the result printed or written like a local run's."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise GpuveloError("--dask needs Dask: pip install 'gpuvelo[dask]'") from None
    from .distributed import run_on_dask

    tables = {name: path for name, path in args.source}
    if args.dask == "local":
        cluster = LocalCluster(dashboard_address=None)
        client = Client(cluster)
    else:
        cluster, client = None, Client(args.dask)
    try:
        show = args.progress or sys.stderr.isatty()

        def progress(n: int, total: int) -> None:
            print(f"\rgpuvelo: {n}/{total} parts aggregated", end="\n" if n == total else "",
                  file=sys.stderr)
        result = run_on_dask(query, client, backend=args.backend, batch_size=args.batch_size,
                             on_progress=progress if show else None, **tables)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if args.sink:
        sink = as_sink(args.sink)
        sink.write(result)
        sink.close()
        print(f"wrote {result.num_rows} rows to {args.sink}", file=sys.stderr)
    else:
        print_result(result, args.format)
    return 0



def cmd_run(args) -> int:
    check_backend(args.backend)
    check_outputs(args)
    query = read_query(args.query)
    if args.dask:
        return run_dask(query, args)
    sources = open_sources(args.source, args.batch_size, csv_options(args))
    streamed = not args.sink and args.format != "table"   # CSV / JSON lines: print as they come
    sink = as_sink(args.sink) if args.sink else stdout_sink(args.format) if streamed else MemorySink()
    try:
        stats = run_job(query, sources, sink, args)   # the job closes its sinks
    except GpuveloError as e:
        hinted = with_hint(e, sources)
        if hinted is e:
            raise
        raise hinted from e
    finally:
        for src in sources.values():
            src.close()
    report_set_aside(stats, args.late_sink, args.dead_letter)
    report_stop(stats)
    if args.sink:
        print(f"wrote {sink.rows_written} rows to {args.sink} "
              f"({stats.records_read} rows read in {stats.elapsed_s:.2f} s)", file=sys.stderr)
    elif not streamed:
        print_result(sink.table(), args.format)
    return 0


def cmd_explain(args) -> int:
    from . import api

    sources = open_sources(args.source, None, csv_options(args))
    try:
        text = api.explain(read_query(args.query), sources=sources or None, backend=args.backend,
                           partitions=args.partitions, strategy=args.strategy)
    except GpuveloError as e:
        if "pass sources= or schemas=" not in str(e):
            raise
        raise GpuveloError("explain needs the schema of the query's table: give it with "
                           "--source NAME=PATH, or name the file in the query (FROM "
                           "'data.parquet')") from e
    print(text)
    return 0


DEMO_PREGENERATE_ROWS = 20_000_000   # up to this many rows, generate before timing the job


def cmd_demo(args) -> int:
    check_backend(args.backend)      # before generating the data
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
        if _broken_pipe(e):   # a sink printing on stdout, read by `| head`: stop quietly
            return _quiet_stdout()
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
        return _quiet_stdout()


def _broken_pipe(error: BaseException) -> bool:
    """Whether ``error`` was caused by a closed stdout pipe (the job wraps sink failures)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, BrokenPipeError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _quiet_stdout() -> int:
    """Point stdout at /dev/null, so that Python's exit flush does not complain; status 0."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
