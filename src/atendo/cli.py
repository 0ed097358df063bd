"""The composition root: ``atendo serve | worker | migrate | company create | demo``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal

import typer

from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import get_settings

app = typer.Typer(help="Atendo: omnichannel customer service, e-mail first.", no_args_is_help=True)
company_app = typer.Typer(help="Manage companies (tenants).", no_args_is_help=True)
app.add_typer(company_app, name="company")


def _setup_logging() -> None:
    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _runtime(migrate: bool = True) -> Runtime:
    settings = get_settings()
    runtime = Runtime.from_settings(settings)
    if migrate:
        upgrade(settings.resolved_database_url)
    return runtime


@app.command()
def migrate() -> None:
    """Apply pending database migrations."""
    _setup_logging()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (default ATENDO_HOST)."),
    port: int = typer.Option(None, help="Port (default ATENDO_PORT)."),
    workers: bool = typer.Option(True, "--workers/--no-workers", help="Run workers in-process."),
) -> None:
    """Serve the API and the panel (applies pending migrations first)."""
    import uvicorn

    from atendo.server import create_app

    _setup_logging()
    runtime = _runtime()
    settings = runtime.settings
    # What is derived from the served address (the OAuth redirect URI, the widget's snippet,
    # without ATENDO_PUBLIC_URL) must name the address actually served.
    settings.host, settings.port = host or settings.host, port or settings.port
    application = create_app(runtime, workers=workers)
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # X-Forwarded-For is honoured by the app itself, from ATENDO_TRUSTED_PROXIES only.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker(
    processes: int = typer.Option(
        0,
        "--processes",
        help="Sync loops (processes) sharing the mailbox leases; default: the CPU count on "
        "PostgreSQL, 1 on SQLite.",
    ),
) -> None:
    """Run the background workers alone (scale-out mode)."""
    _setup_logging()
    # SQLite has one writer and wakes workers in-process only: one process there.
    sqlite = get_settings().resolved_database_url.startswith("sqlite")
    count = processes if processes > 0 else (1 if sqlite else (os.cpu_count() or 1))
    if count == 1:
        _run_worker()
        return
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)  # once, before the processes start
    _supervise_workers(count)


def _run_worker() -> None:
    from atendo.workers.runner import WorkerSet

    runtime = _runtime()

    async def main() -> None:
        workers = WorkerSet(runtime)
        workers.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await workers.stop()

    asyncio.run(main())


def _supervise_workers(count: int) -> None:
    """Run ``count`` worker processes (each its own heartbeat and leases), restart one that
    dies, and pass SIGTERM/SIGINT on to all of them."""
    import subprocess
    import sys
    import time

    helpers = max(1, (os.cpu_count() or 1) // count - 1)
    env = {**os.environ, "ATENDO_PARSE_HELPERS": str(helpers)}
    command = [sys.executable, "-m", "atendo", "worker", "--processes", "1"]
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    children.extend(subprocess.Popen(command, env=env) for _ in range(count))
    while not stopping:
        time.sleep(1.0)
        for i, child in enumerate(children):
            if child.poll() is not None and not stopping:
                logging.getLogger("atendo.cli").warning(
                    "worker process %s ended (%s); starting another", child.pid, child.returncode
                )
                children[i] = subprocess.Popen(command, env=env)
    for child in children:
        child.wait()


@company_app.command("create")
def company_create(
    name: str = typer.Option(..., "--name"),
    admin_email: str = typer.Option(..., "--admin-email"),
    admin_password: str = typer.Option(..., "--admin-password"),
) -> None:
    """Create a company with its admin; prints one line of JSON with the API token."""
    from atendo.core.companies.service import create_company

    runtime = _runtime()
    with runtime.db.transaction() as session:
        new = create_company(
            session, name=name, admin_email=admin_email, admin_password=admin_password
        )
        out = {
            "company_id": new.company.id,
            "operator_id": new.admin.id,
            "api_token": new.api_token,
        }
    typer.echo(json.dumps(out))


@app.command()
def demo(
    company_id: int = typer.Option(None, help="Fill this company (default: a new demo company)."),
    admin_password: str = typer.Option(
        None, help="The new demo company's admin password (default: generated, printed)."
    ),
) -> None:
    """Fill a company with realistic sample data in Portuguese for a first look. The last line
    printed is JSON with ``admin_email`` and ``admin_password`` to sign in with."""
    from atendo.demo import fill_demo

    runtime = _runtime()
    with runtime.db.transaction() as session:
        summary = fill_demo(
            session, box=runtime.box, company_id=company_id, admin_password=admin_password
        )
    typer.echo(json.dumps(summary))


if __name__ == "__main__":
    app()
