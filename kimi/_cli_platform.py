"""``kimi files ...`` and ``kimi batch ...``: the platform's files and batch jobs from the
terminal, each command a call or two of ``client.files`` / ``client.batches``.

Here are the arguments, the two line shapes a batch input file may hold, and how
outcomes are printed; uploading, polling and joining results stay in ``_files.py`` and
``_batches.py``. Nothing here imports kimi before a command runs, so ``--help`` works
in a checkout whose extension is not built.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any, Iterator

from ._cli import (
    EXIT_CONFIG,
    EXIT_FAILED,
    CommandError,
    make_client,
    opened,
    output,
    print_json,
    print_text,
    refused_input,
)

# kimi._files.PURPOSES, spelled out so the parser is built without importing kimi.
FILE_PURPOSES = ("file-extract", "image", "video", "batch")
# The one endpoint the platform batches (kimi._batches.ENDPOINT).
BATCH_URL = "/v1/chat/completions"
FILES_EXAMPLES = """\
examples:
  kimi files upload report.pdf                # prints the id: file-...
  kimi files extract report.pdf > report.txt  # the text; the upload is deleted after
  kimi files list
  kimi files content file-... -o out.jsonl
  kimi files delete file-...
"""
BATCH_EXAMPLES = """\
examples:
  kimi batch submit requests.jsonl            # prints the id: batch-...
  kimi batch status batch-...                 # in_progress  3/10 completed, 0 failed
  kimi batch wait batch-...                   # exit 1 unless it completed
  kimi batch results batch-... -o results.jsonl
"""
_ENDINGS = {"expired": "expired before all its requests ran", "cancelled": "was cancelled"}


# -- files ----------------------------------------------------------------------------------


def _file_line(file: Any, id_width: int) -> str:
    """id, size in bytes, purpose, filename: in columns for reading, the filename last as
    it may hold spaces."""
    size = "-" if file.bytes is None else str(file.bytes)
    return f"{file.id:<{id_width}}  {size:>10}  {file.purpose or '-':<12}  {file.filename or ''}"


def _cmd_files_upload(args: argparse.Namespace) -> int:
    files = make_client(args).files
    with refused_input():  # no such file, an empty one, one over 100 MB
        uploaded = files.create(file=args.path, purpose=args.purpose)
    if args.json:
        print_json(uploaded.to_dict())
    else:
        print(uploaded.id)
    return 0


def _cmd_files_list(args: argparse.Namespace) -> int:
    listing = make_client(args).files.list()
    if args.json:
        print_json([file.to_dict() for file in listing])
        return 0
    id_width = max((len(file.id) for file in listing), default=0)
    for file in listing:
        print(_file_line(file, id_width))
    return 0


def _cmd_files_extract(args: argparse.Namespace) -> int:
    files = make_client(args).files
    with refused_input():
        text = files.extract(args.path, keep=args.keep)
    print_text(text)
    return 0


def _cmd_files_content(args: argparse.Namespace) -> int:
    content = make_client(args).files.content(args.id).content
    with output(args.output, binary=True) as out:
        out.write(content)
    return 0


def _cmd_files_delete(args: argparse.Namespace) -> int:
    deleted = make_client(args).files.delete(args.id)
    if deleted.deleted is False:
        raise CommandError(f"{args.id} was not deleted", EXIT_FAILED)
    print(f"deleted {deleted.id or args.id}")
    return 0


# -- the batch input file -------------------------------------------------------------------


def _json_line(line: str, where: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise CommandError(f"{where}: not JSON: {exc}", EXIT_CONFIG) from None


def _batch_request(item: Any, where: str) -> Any:
    """What ``batches.submit`` takes for one line: a platform batch line
    ``{"custom_id", "method", "url", "body"}`` becomes ``(custom_id, body)``; a dict of
    ``create()`` arguments stays as it is, a ``custom_id`` in it becoming the pair's id.
    Without a custom_id the library numbers the request."""
    if not isinstance(item, dict):
        raise CommandError(f"{where}: expected a JSON object, got {json.dumps(item)[:40]}", EXIT_CONFIG)
    if "body" in item:
        method, url = item.get("method", "POST"), item.get("url", BATCH_URL)
        if (method, url) != ("POST", BATCH_URL):
            raise CommandError(f"{where}: a batch line must be POST {BATCH_URL}, got {method} {url}", EXIT_CONFIG)
        body = item["body"]
    else:
        body = {key: value for key, value in item.items() if key != "custom_id"}
    if not isinstance(body, dict):
        raise CommandError(f"{where}: body must be a JSON object", EXIT_CONFIG)
    custom_id = item.get("custom_id")
    return body if custom_id is None else (custom_id, body)


def _batch_requests(source: IO[str], name: str) -> Iterator[Any]:
    """The requests of a JSONL file, read a line at a time as ``submit`` writes them out,
    so a 100 MB file is never held whole; blank lines are skipped."""
    try:
        for number, line in enumerate(source, 1):
            if line.strip():
                where = f"{name} line {number}"
                yield _batch_request(_json_line(line, where), where)
    except UnicodeDecodeError:  # text is decoded a block at a time: no line to name
        raise CommandError(f"{name}: not UTF-8 text", EXIT_CONFIG) from None


# -- batch outcomes -------------------------------------------------------------------------


def _status_line(batch: Any) -> str:
    """``in_progress  3/10 completed, 1 failed``: the status first, for ``cut -d' ' -f1``."""
    counts = batch.request_counts
    if counts is None:
        return batch.status
    done, total, failed = counts.completed or 0, counts.total or 0, counts.failed or 0
    return f"{batch.status}  {done}/{total} completed, {failed} failed"


def _wait(job: Any, poll: float | None) -> Any:
    """The job's last Batch once it has ended, polled every `poll` seconds (else with the
    library's backoff); the progress line goes to stderr only when someone watches it."""
    return job.wait(progress=sys.stderr.isatty(), poll_interval=poll)


def _report_end(batch: Any) -> int:
    """Print how the batch ended; anything but completed is a failure (exit 1), its
    reason on stderr: the lines the platform refused, or that time ran out."""
    print(_status_line(batch))
    if batch.status == "completed":
        return 0
    if batch.status == "failed":
        from ._batches import failure_of

        raise CommandError(str(failure_of(batch)), EXIT_FAILED)
    ending = _ENDINGS.get(batch.status, f"ended {batch.status}")
    raise CommandError(f"batch {batch.id} {ending}", EXIT_FAILED)


def _error_record(exc: Exception) -> dict[str, Any]:
    """A request's error as JSON: the class name (``RateLimitError``, ``BatchRequestError``)
    to branch on, its message, and the HTTP status and error code when it has them."""
    record: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    for field in ("status_code", "code"):
        value = getattr(exc, field, None)
        if value is not None:
            record[field] = value
    return record


def _result_record(result: Any) -> dict[str, Any]:
    response = result.response
    error = result.error
    return {
        "custom_id": result.custom_id,
        "response": None if response is None else response.to_dict(),
        "error": None if error is None else _error_record(error),
    }


# -- batch commands -------------------------------------------------------------------------


def _cmd_batch_submit(args: argparse.Namespace) -> int:
    batches = make_client(args).batches
    with opened(args.file, "r") as source, refused_input():
        job = batches.submit(_batch_requests(source, args.file), completion_window=args.window)
    print(job.id)
    if not args.wait:
        return 0
    sys.stdout.flush()  # the id is worth having while the job runs
    return _report_end(_wait(job, args.poll))


def _cmd_batch_status(args: argparse.Namespace) -> int:
    batch = make_client(args).batches.retrieve(args.id)
    if args.json:
        print_json(batch.to_dict())
    else:
        print(_status_line(batch))
    return 0


def _cmd_batch_wait(args: argparse.Namespace) -> int:
    job = make_client(args).batches.job(args.id)
    return _report_end(_wait(job, args.poll))


def _cmd_batch_results(args: argparse.Namespace) -> int:
    from ._batches import TERMINAL

    job = make_client(args).batches.job(args.id)
    if job.status not in TERMINAL:
        _wait(job, args.poll)
    results = job.results()  # BatchFailedError when the job failed as a whole: exit 1
    with output(args.output) as out:
        for result in results:
            out.write(json.dumps(_result_record(result), ensure_ascii=False) + "\n")
    return 0


# -- arguments ------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    """A --poll value: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _command_group(sub: Any, common: argparse.ArgumentParser, name: str, summary: str, examples: str) -> Any:
    """A command of commands (``kimi files ...``): its own subparsers, one of which must be
    given, and its examples kept as written at the end of its --help."""
    group = sub.add_parser(
        name,
        parents=[common],
        help=summary,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=examples,
    )
    # dest "command", as at the top: what a usage error names as the missing argument.
    return group.add_subparsers(dest="command", required=True)


def _add_files(sub: Any, common: argparse.ArgumentParser) -> None:
    summary = "upload, list, extract, fetch, delete files"
    commands = _command_group(sub, common, "files", summary, FILES_EXAMPLES)

    upload = commands.add_parser("upload", parents=[common], help="upload a file; prints its id")
    upload.add_argument("path", metavar="PATH")
    upload.add_argument("--purpose", choices=FILE_PURPOSES, default="file-extract")
    upload.add_argument("--json", action="store_true", help="print the file object as JSON")
    upload.set_defaults(run=_cmd_files_upload)

    listing = commands.add_parser(
        "list", parents=[common], help="the account's files: id, bytes, purpose, filename"
    )
    listing.add_argument("--json", action="store_true", help="print the file objects as JSON")
    listing.set_defaults(run=_cmd_files_list)

    extract = commands.add_parser(
        "extract", parents=[common], help="print a document's text (upload, read, delete)"
    )
    extract.add_argument("path", metavar="PATH")
    extract.add_argument("--keep", action="store_true", help="leave the upload on the platform")
    extract.set_defaults(run=_cmd_files_extract)

    content = commands.add_parser("content", parents=[common], help="a file's content, as it is")
    content.add_argument("id", metavar="ID")
    content.add_argument("-o", "--output", metavar="OUT", help="write it to OUT, not stdout")
    content.set_defaults(run=_cmd_files_content)

    delete = commands.add_parser("delete", parents=[common], help="delete a file")
    delete.add_argument("id", metavar="ID")
    delete.set_defaults(run=_cmd_files_delete)


def _add_batch(sub: Any, common: argparse.ArgumentParser) -> None:
    summary = "run many chat requests as a batch job"
    commands = _command_group(sub, common, "batch", summary, BATCH_EXAMPLES)
    polling = argparse.ArgumentParser(add_help=False)
    polling.add_argument(
        "--poll", type=_seconds, metavar="SECONDS",
        help="look every SECONDS (default: after 1 s, then less often, up to a minute)",
    )

    submit = commands.add_parser(
        "submit", parents=[common, polling], help="start a batch from a JSONL file; prints its id",
        description=(
            "Each line of FILE is one chat request: a platform batch line "
            f'{{"custom_id", "method": "POST", "url": "{BATCH_URL}", "body": {{...}}}}, '
            'or the arguments of chat.completions.create {"model", "messages", ...} '
            '(with an optional "custom_id"). One model per file.'
        ),
    )
    submit.add_argument("file", metavar="FILE.jsonl")
    submit.add_argument("--window", default="24h", help="completion window, 12h to 7d (default 24h)")
    submit.add_argument("--wait", action="store_true", help="then wait for it, as `batch wait`")
    submit.set_defaults(run=_cmd_batch_submit)

    status = commands.add_parser("status", parents=[common], help="a batch's status and request counts")
    status.add_argument("id", metavar="ID")
    status.add_argument("--json", action="store_true", help="print the batch object as JSON")
    status.set_defaults(run=_cmd_batch_status)

    wait = commands.add_parser(
        "wait", parents=[common, polling],
        help="wait for a batch to end; exit 1 unless it completed",
    )
    wait.add_argument("id", metavar="ID")
    wait.set_defaults(run=_cmd_batch_wait)

    results = commands.add_parser(
        "results", parents=[common, polling],
        help="one JSON line per request, in input order: custom_id, response, error",
    )
    results.add_argument("id", metavar="ID")
    results.add_argument("-o", "--output", metavar="OUT", help="write them to OUT, not stdout")
    results.set_defaults(run=_cmd_batch_results)


def add_platform_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``files`` and ``batch`` commands, on the top-level parser's subparsers."""
    _add_files(sub, common)
    _add_batch(sub, common)
