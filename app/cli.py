"""The ``hitblocks`` command: Flask's CLI over the app factory, plus our own commands."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, routes_command, shell_command, with_appcontext
from flask.cli import run_command as flask_run_command
from werkzeug.serving import run_simple

from app import create_app, jobs
from app.bootstrap import SchemaNotCurrent, ensure_schema, prepare
from app.extensions import db
from app.services import accounts
from mturk.local import KeepAliveHandler, create_local_app, serve_in_thread

main = FlaskGroup(
    name="hitblocks",
    create_app=lambda: create_app(),
    add_default_commands=False,
    help="Hitblocks: a self-hosted Mechanical Turk bridge.",
)
main.add_command(shell_command)
main.add_command(routes_command)


@main.command("run", params=flask_run_command.params, help=flask_run_command.help)
@click.pass_context
def run_command(ctx: click.Context, **options: Any) -> None:
    """Migrate (on the default SQLite), create a first key on an empty database, then serve."""
    app = ctx.ensure_object(ScriptInfo).load_app()
    try:
        issued = prepare(app)
    except SchemaNotCurrent as exc:
        raise click.ClickException(str(exc)) from None
    serving = not options["reload"] or os.environ.get("WERKZEUG_RUN_MAIN") == "true"
    if app.config["MTURK_ENDPOINT"] == "local" and serving:
        _start_local_mturk(app)
    if scheduler_enabled(app) and serving:
        jobs.start_background(app)
        interval = app.config["POLL_INTERVAL_SECONDS"]
        click.echo(f"Poller: every {interval} s (HITBLOCKS_SCHEDULER=off leaves it to a worker)")
    if issued is not None:
        base = f"http://{options['host']}:{options['port']}"
        click.echo(f"Created the first account {issued.account_name!r} with this API key:")
        click.echo(f"  {issued.key}")
        click.echo("It is stored hashed and will not be shown again. Try:")
        click.echo(f"  curl {base}/v1/hitblocks -u {issued.key}:")
    ctx.invoke(flask_run_command, **options)


def _local_app(app: Flask) -> Flask:
    return create_local_app(
        app.config["MTURK_LOCAL_DATABASE_URL"], Decimal(str(app.config["MTURK_LOCAL_BALANCE"]))
    )


def _start_local_mturk(app: Flask) -> None:
    host, port = app.config["MTURK_LOCAL_HOST"], int(app.config["MTURK_LOCAL_PORT"])
    try:
        server = serve_in_thread(_local_app(app), host, port)
    except OSError as exc:
        raise click.ClickException(
            f"The local MTurk service cannot listen on {host}:{port} ({exc}); "
            "set HITBLOCKS_MTURK_LOCAL_PORT, or HITBLOCKS_MTURK_ENDPOINT to use another."
        ) from None
    base = f"http://{host}:{server.server_port}"
    click.echo(f"Local MTurk service: requester API at {base}/ , worker site at {base}/worker")


@main.command("mturk-local")
@click.option("--host", default=None, help="Interface to listen on (HITBLOCKS_MTURK_LOCAL_HOST).")
@click.option("--port", type=int, default=None, help="Port (HITBLOCKS_MTURK_LOCAL_PORT).")
@with_appcontext
def mturk_local_command(host: str | None, port: int | None) -> None:
    """Run only the local MTurk-compatible service: requester API and worker site."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    host = host or app.config["MTURK_LOCAL_HOST"]
    port = port if port is not None else int(app.config["MTURK_LOCAL_PORT"])
    click.echo(
        f"Local MTurk service: requester API at http://{host}:{port}/ , "
        f"worker site at http://{host}:{port}/worker"
    )
    run_simple(host, port, _local_app(app), threaded=True, request_handler=KeepAliveHandler)


def scheduler_enabled(app: Flask) -> bool:
    return str(app.config["SCHEDULER"]).lower() not in {"off", "false", "0", "no"}


@main.command("worker")
@with_appcontext
def worker_command() -> None:
    """Run only the scheduled jobs (the poller), not the web service."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"Poller: every {app.config['POLL_INTERVAL_SECONDS']} s")
    jobs.run_blocking(app)


@main.command("poll")
@click.option("--once", is_flag=True, required=True, help="Run one cycle and exit.")
@with_appcontext
def poll_command(once: bool) -> None:
    """Run one poll cycle (for cron and tests) and print what it did as JSON."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    report = jobs.run_poll_cycle(app)
    if report is None:
        click.echo(json.dumps({"skipped": "another process is polling"}))
        return
    click.echo(json.dumps(asdict(report)))


@main.group("keys")
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--account", "account_name", required=True, help="Account name (created if new).")
@with_appcontext
def create_key(account_name: str) -> None:
    """Create a new API key; the key alone is the last line of output."""
    try:
        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
    except SchemaNotCurrent as exc:
        raise click.ClickException(str(exc)) from None
    issued = accounts.create_key(db.session, account_name)
    click.echo(f"API key for account {issued.account_name!r} (id {issued.account_id}):")
    click.echo(issued.key)


@keys.command("list")
@click.option("--account", "account_name", help="Only this account's keys.")
@with_appcontext
def list_keys(account_name: str | None) -> None:
    """List keys by their last four characters (the keys themselves are not stored)."""
    for row in accounts.list_keys(db.session, account_name):
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(
            f"{row.account_name}\t...{row.last4}\tcreated {row.created:%Y-%m-%d %H:%M}\t{state}"
        )


@keys.command("revoke")
@click.argument("key")
@with_appcontext
def revoke_key(key: str) -> None:
    """Revoke an API key; requests with it answer 401 from now on."""
    if not accounts.revoke_key(db.session, key):
        raise click.ClickException("No active API key matches.")
    click.echo("Revoked.")


if __name__ == "__main__":
    main()
