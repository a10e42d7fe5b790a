"""The ``rag`` command (also ``python -m app``): serve, ingest, ask, eval, keys."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from app.cli_errors import CliError, describe, server_error
from app.settings import Settings, get_settings

cli = typer.Typer(
    help="Retrieval-augmented answers from your own documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # main() prints one line per error; --verbose adds the traceback
)
keys_cli = typer.Typer(help="Manage API keys kept (as hashes) in the store.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
console = Console(stderr=True)

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}
DEFAULT_URL = "http://127.0.0.1:8000"
# Statuses /ingest answers about one file; any other error status is about the request as a whole.
FILE_STATUSES = {413, 415, 422}

_verbose = False

UrlOption = Annotated[str, typer.Option(envvar="RAG_URL", help="Server URL")]
ApiKeyOption = Annotated[str | None, typer.Option(envvar="RAG_API_KEY", help="API key, if the server needs one")]


@cli.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the traceback when a command fails")] = False,
) -> None:
    global _verbose
    _verbose = _verbose or verbose


def iter_files(paths: list[Path]) -> Iterator[Path]:
    """Supported files under each path (folders are walked recursively, in sorted order)."""
    for path in paths:
        if path.is_dir():
            yield from (p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in SUPPORTED)
        elif path.is_file():
            yield path
        else:
            raise CliError(f"{path} does not exist", "check the path")


@contextmanager
def _progress() -> Iterator[Progress]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        try:
            yield progress
        except BaseException:
            progress.live.transient = True  # on failure the bar goes, and only the error line is left
            raise


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
) -> None:
    """Run the HTTP server (uvicorn app.main:app)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import uvicorn

    uvicorn.run("app.main:app", host=host, port=port)


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


@cli.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest")],
    collection: Annotated[str | None, typer.Option(help="Collection to put them in")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant (direct mode only)")] = None,
    url: Annotated[str | None, typer.Option(help="Send to a running server instead of the store")] = None,
    api_key: ApiKeyOption = None,
    batch: Annotated[int, typer.Option(help="Files per batch")] = 16,
) -> None:
    """Ingest a folder or files, with a progress bar: directly into the store, or over HTTP with --url."""
    files = list(iter_files(paths))
    if not files:
        raise CliError("no supported files found", f"rag ingest reads {', '.join(sorted(SUPPORTED))} files")
    stored = deduplicated = failed = chunks = 0
    with _progress() as progress:
        task = progress.add_task("ingesting", total=len(files))
        for result in (
            _ingest_http(files, url, api_key, collection, batch)
            if url
            else _ingest_direct(files, get_settings(), tenant, collection, batch)
        ):
            if "error" in result:
                failed += 1
                error = str(result["error"])
                named = error if error.startswith(f"{result['source']}: ") else f"{result['source']}: {error}"
                console.print(named, style="red", markup=False, highlight=False)
            elif result["deduplicated"]:
                deduplicated += 1
            else:
                stored += 1
                chunks += int(result["chunks"])
            progress.advance(task)
    console.print(f"stored {stored}, deduplicated {deduplicated}, failed {failed}, chunks {chunks}")
    if failed and not stored and not deduplicated:
        raise typer.Exit(1)


def _ingest_direct(
    files: list[Path], settings: Settings, tenant: str | None, collection: str | None, batch: int
) -> Iterator[dict[str, Any]]:
    from app.container import Services
    from retrieval.errors import RetrievalError

    services = Services(settings)
    services.load_store()
    try:
        for i in range(0, len(files), batch):
            group = files[i : i + batch]
            payload = [(p.name, p.read_bytes()) for p in group]
            owner = tenant or settings.default_tenant
            where = collection or settings.default_collection
            try:
                results = services.retrieval.ingest(tenant=owner, collection=where, files=payload)
            except RetrievalError:
                # One bad file fails its whole batch; retry one by one to report precisely.
                for name, data in payload:
                    try:
                        (r,) = services.retrieval.ingest(tenant=owner, collection=where, files=[(name, data)])
                        yield {
                            "source": name,
                            "deduplicated": r.deduplicated,
                            "chunks": r.document.chunk_count,
                        }
                    except RetrievalError as exc:
                        yield {"source": name, "error": exc.message}
                continue
            for r in results:
                yield {
                    "source": r.document.source,
                    "deduplicated": r.deduplicated,
                    "chunks": r.document.chunk_count,
                }
    finally:
        services.retrieval.close()
        services.release_writer_lock()


def _ingest_http(
    files: list[Path], url: str, api_key: str | None, collection: str | None, batch: int
) -> Iterator[dict[str, Any]]:
    import httpx

    with httpx.Client(base_url=url, headers=_headers(api_key), timeout=600) as client:
        for path in files:
            data = {"collection": collection} if collection else {}
            resp = client.post("/ingest", files=[("files", (path.name, path.read_bytes()))], data=data)
            if resp.status_code in FILE_STATUSES:
                yield {"source": path.name, "error": server_error(resp).message.split(": ", 1)[-1]}
                continue
            if resp.status_code != 200:
                raise server_error(resp)  # not about this file: stop here
            for doc in resp.json()["documents"]:
                yield {"source": doc["source"], "deduplicated": doc["deduplicated"], "chunks": doc["chunks"]}


@cli.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question")],
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    detail: Annotated[str | None, typer.Option(help="short, normal or detailed")] = None,
    tone: Annotated[str | None, typer.Option(help="neutral, formal or friendly")] = None,
    collection: Annotated[str | None, typer.Option(help="Only this collection (default: every collection)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole response")] = False,
) -> None:
    """Ask a running server a question and print the answer with its citations."""
    import httpx

    body: dict[str, Any] = {"question": question}
    for key, value in (("detail", detail), ("tone", tone), ("collection", collection)):
        if value:
            body[key] = value
    resp = httpx.post(f"{url.rstrip('/')}/ask", json=body, headers=_headers(api_key), timeout=600)
    if resp.status_code != 200:
        raise server_error(resp)
    data = resp.json()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    print(data["answer"])
    for c in data["citations"]:
        page = f", page {c['page']}" if c.get("page") else ""
        print(f'  [{c["number"]}] {c["source"]}{page}: "{c["text"][:160]}"')


@cli.command("eval")
def eval_(
    questions: Annotated[Path, typer.Argument(help='JSON Lines: {"question": ..., "answer": ... or "unanswerable"}')],
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    collection: Annotated[str | None, typer.Option(help="Only this collection (default: every collection)")] = None,
    detail: Annotated[
        str, typer.Option(help="Detail level asked for: short answers match expected ones best")
    ] = "short",
    report: Annotated[
        Path | None, typer.Option(help="Per-question report (JSON Lines); default: QUESTIONS-report.jsonl here")
    ] = None,
) -> None:
    """Ask a running server your own questions; print correct, abstained and confidently wrong answers."""
    import httpx

    from app.evaluation import QuestionFileError, Tally, judge, load_questions, report_row

    try:
        items = load_questions(questions)
    except QuestionFileError as exc:
        raise CliError(f"{questions}: {exc}", 'write one {"question": ..., "answer": ...} object per line') from exc
    report = report or Path(f"{questions.stem}-report.jsonl")
    tally = Tally()
    with (
        httpx.Client(base_url=url, headers=_headers(api_key), timeout=600) as client,
        report.open("w", encoding="utf-8") as out,
        _progress() as progress,
    ):
        task = progress.add_task("asking", total=len(items))
        for q in items:
            body: dict[str, Any] = {"question": q.question, "detail": detail}
            if collection:
                body["collection"] = collection
            resp = client.post("/ask", json=body)
            if resp.status_code == 200:
                answer = resp.json()
                outcome = judge(q, str(answer["answer"]), bool(answer["abstained"]))
                row = report_row(q, outcome, answer)
            elif resp.status_code in (400, 413, 422):  # about this question only: noted, and the run goes on
                outcome = "error"
                row = report_row(q, outcome, None, error=server_error(resp).message)
            else:
                raise server_error(resp)
            tally.add(q, outcome)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            progress.advance(task)
    for line in tally.lines():
        print(line)
    print(f"report: {report}")


@keys_cli.command("create")
def keys_create(tenant: Annotated[str, typer.Option(help="Tenant the key acts for")]) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    from app.keys import open_key_store

    store = open_key_store(get_settings())
    record, key = store.create(tenant)
    store.close()
    console.print(f"key id {record.key_id} for tenant {tenant!r} (shown once):")
    print(key)


@keys_cli.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant")] = None) -> None:
    """List keys (ids and tenants; never the keys)."""
    from app.keys import open_key_store

    store = open_key_store(get_settings())
    table = Table("key id", "tenant", "created", "revoked")
    for r in store.list(tenant):
        table.add_row(r.key_id, r.tenant, f"{r.created_at:.0f}", "yes" if r.revoked else "no")
    store.close()
    Console().print(table)


@keys_cli.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id from `keys list`")],
    tenant: Annotated[str | None, typer.Option(help="Only if it belongs to this tenant")] = None,
) -> None:
    """Revoke a key; requests with it are refused from then on."""
    from app.keys import open_key_store

    store = open_key_store(get_settings())
    ok = store.revoke(key_id, tenant)
    store.close()
    if not ok:
        console.print(f"[red]no key {key_id}")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


def main() -> None:
    """Run the command; a failure prints one line with a hint (and the traceback with --verbose)."""
    global _verbose
    args = sys.argv[1:]
    # --verbose works after the command too (`rag ask "..." --verbose`), not only before it.
    _verbose = "--verbose" in args
    try:
        cli(args=[a for a in args if a != "--verbose"], prog_name="rag")
    except Exception as exc:
        if _verbose:
            traceback.print_exception(exc)
        error = describe(exc)
        print(error.line(), file=sys.stderr)
        sys.exit(error.exit_code)
