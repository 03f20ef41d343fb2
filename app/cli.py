"""The ``hitblocks`` command: Flask's CLI over the app factory, plus our own commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from dataclasses import asdict
from decimal import Decimal

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, routes_command, shell_command, with_appcontext
from flask_migrate import cli as migrate_cli

from app import create_app, jobs, serving
from app.bootstrap import SchemaNotCurrent, ensure_schema, prepare
from app.domain import DomainError
from app.extensions import db
from app.gateway import credentials_path
from app.services import accounts, users
from mturk.service import create_service_app, lifecycle, local_store, notifications
from mturk.service import schema as service_schema
from mturk.service.content import create_content_app
from mturk.service.layouts import layouts_group
from mturk.service.requesters import RequesterError, ensure_local_credentials, requesters_group
from mturk.service.store import Base as service_models
from mturk.service.store import Store, service_engine
from mturk.service.workers import command_group as workers_group
from mturk.service.workers import instance_secret_key


class HitblocksGroup(FlaskGroup):
    """Flask's CLI group, with our ``db`` group in place of Flask-Migrate's plugin one."""

    def _load_plugin_commands(self) -> None:
        super()._load_plugin_commands()
        self.add_command(db_group)


db_group = click.Group(
    "db",
    commands={name: cmd for name, cmd in migrate_cli.db.commands.items() if name != "upgrade"},
    callback=migrate_cli.db.callback,
    params=migrate_cli.db.params,
    help=migrate_cli.db.help,
)


@db_group.command("upgrade", params=migrate_cli.upgrade.params)
@click.pass_context
def db_upgrade_command(ctx: click.Context, **options: object) -> None:
    """Upgrade the API's database to a later migration, and the bundled MTurk service's
    database (when HITBLOCKS_MTURK_ENDPOINT is local) to its newest."""
    ctx.invoke(migrate_cli.upgrade, **options)
    app = ctx.ensure_object(ScriptInfo).load_app()
    if app.config["MTURK_ENDPOINT"] == "local":
        engine = service_engine(app.config["MTURK_LOCAL_DATABASE_URL"])
        try:
            service_schema.upgrade(engine, service_models.metadata)
            click.echo(f"MTurk service database: at {service_schema.current(engine)}.")
        finally:
            engine.dispose()


main = HitblocksGroup(
    name="hitblocks",
    create_app=lambda: create_app(),
    add_default_commands=False,
    help="Hitblocks: a self-hosted Mechanical Turk bridge.",
)
main.add_command(shell_command)
main.add_command(routes_command)
main.add_command(requesters_group)
main.add_command(layouts_group)
main.add_command(
    workers_group(lambda: _local_app(current_app), lambda: _local_urls(current_app)[0])
)


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface of the API.")
@click.option("--port", type=int, default=5000, show_default=True, help="Port (0: any free one).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Web worker processes (default HITBLOCKS_WEB_WORKERS).",
)
@click.pass_context
def run_command(ctx: click.Context, host: str, port: int, workers: int | None) -> None:
    """Migrate (on the default SQLite), create a first key on an empty database, then serve
    the API through gunicorn, with the local MTurk service and the scheduled jobs."""
    app = ctx.ensure_object(ScriptInfo).load_app()
    try:
        issued = prepare(app)
    except SchemaNotCurrent as exc:
        raise click.ClickException(str(exc)) from None
    workers = workers or int(app.config["WEB_WORKERS"])
    threads = int(app.config["WEB_THREADS"])
    if workers < 1 or threads < 1:
        raise click.ClickException("HITBLOCKS_WEB_WORKERS and HITBLOCKS_WEB_THREADS must be >= 1.")
    api_socket = _listen(host, port, "--port")
    base = serving.base_url(host, api_socket)
    env = dict(os.environ)
    parts: list[serving.Part] = []
    scheduler = None
    delivering = None
    exited = None
    try:
        if app.config["MTURK_ENDPOINT"] == "local":
            deliverer = _notification_deliverer(app)
            parts.append(_start_local_mturk(app, env))
            delivering = _start_notifications(app, deliverer)
        parts.append(
            serving.start_part(
                "The API server",
                ["serve-api", "--workers", str(workers), "--threads", str(threads)],
                api_socket,
                env,
            )
        )
        api_socket.close()
        if scheduler_enabled(app):
            scheduler = jobs.start_background(app)
            interval = app.config["POLL_INTERVAL_SECONDS"]
            click.echo(
                f"Poller: every {interval} s, in process {os.getpid()} "
                "(HITBLOCKS_SCHEDULER=off leaves it to `hitblocks worker`)"
            )
            if app.config["MTURK_NOTIFICATION_QUEUE_URL"]:
                click.echo(
                    "MTurk notifications: consuming "
                    f"{app.config['MTURK_NOTIFICATION_QUEUE_URL']} in the same process"
                )
        if issued is not None:
            click.echo(f"Created the first account {issued.account_name!r} with this API key:")
            click.echo(f"  {issued.key}")
            click.echo("It is stored hashed and will not be shown again. Try:")
            click.echo(f"  curl {base}/v1/hitblocks -u {issued.key}:")
        click.echo(
            f"Console for reviewers and admins at {base}/console "
            "(`hitblocks users create` adds the people who sign in)"
        )
        click.echo(
            f"Serving the API at {base} with gunicorn ({workers} worker processes x {threads} "
            "threads); Ctrl-C stops everything."
        )
        exited = serving.supervise(parts)
    finally:
        api_socket.close()
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        serving.stop_parts(parts)
        if delivering is not None:
            delivering.stop(timeout=STOP_DELIVERING_SECONDS)
            delivering.deliverer.store.dispose()
    if exited is not None:
        raise click.ClickException(
            f"{exited.name} exited (code {exited.process.returncode}), so everything stopped."
        )


def _listen(host: str, port: int, remedy: str) -> socket.socket:
    try:
        return serving.listen(host, port)
    except OSError as exc:
        raise click.ClickException(f"Cannot listen on {host}:{port} ({exc}); {remedy}.") from None


def _local_app(app: Flask) -> Flask:
    return create_service_app(
        app.config["MTURK_LOCAL_DATABASE_URL"],
        content_url=_local_urls(app)[1],
        allow_http_external_url=bool(app.config["MTURK_LOCAL_ALLOW_HTTP_EXTERNAL_URL"]),
        secret_key=app.config.get("MTURK_LOCAL_SECRET_KEY")
        or instance_secret_key(app.instance_path),
        open_signup=str(app.config.get("MTURK_LOCAL_OPEN_SIGNUP")).lower() in {"1", "true", "yes"},
        proxy_hops=int(app.config["PROXY_HOPS"]),
    )


def _local_urls(app: Flask) -> tuple[str, str]:
    """Public URLs of the local service's worker site and of its task content origin."""
    host = app.config["MTURK_LOCAL_HOST"]
    site = app.config["MTURK_LOCAL_URL"] or _url(host, int(app.config["MTURK_LOCAL_PORT"]))
    content = app.config["MTURK_LOCAL_CONTENT_URL"] or _url(
        host, int(app.config["MTURK_LOCAL_CONTENT_PORT"])
    )
    return str(site).rstrip("/"), str(content).rstrip("/")


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _listen_content(app: Flask, host: str) -> socket.socket:
    """Listen for the task content origin, and note the port it got (port 0 works)."""
    sock = _listen(
        host, int(app.config["MTURK_LOCAL_CONTENT_PORT"]), "set HITBLOCKS_MTURK_LOCAL_CONTENT_PORT"
    )
    app.config["MTURK_LOCAL_CONTENT_PORT"] = sock.getsockname()[1]
    return sock


def _ensure_local_requester(app: Flask) -> None:
    """Hitblocks' own requester on the bundled service, its key in the credentials file."""
    path = credentials_path(app)
    if app.config["MTURK_ENDPOINT"] != "local" or path is None:
        return
    balance = Decimal(str(app.config["MTURK_LOCAL_BALANCE"]))
    try:
        ensure_local_credentials(app.config["MTURK_LOCAL_DATABASE_URL"], path, balance)
    except (RequesterError, service_schema.SchemaBehind) as exc:
        raise click.ClickException(str(exc)) from None


def _start_local_mturk(
    app: Flask,
    env: dict[str, str],
    remedy: str = (
        "set HITBLOCKS_MTURK_LOCAL_PORT, or HITBLOCKS_MTURK_ENDPOINT to use another MTurk service"
    ),
) -> serving.Part:
    """Listen for the local MTurk service and its task content origin, and tell the API
    (``env``) and the poller (``app``) the ports they got, then serve both from a gunicorn
    arbiter of their own."""
    _ensure_local_requester(app)
    host, port = app.config["MTURK_LOCAL_HOST"], int(app.config["MTURK_LOCAL_PORT"])
    sock = _listen(host, port, remedy)
    base = serving.base_url(host, sock)
    try:
        content_sock = _listen_content(app, host)
    except click.ClickException:
        sock.close()
        raise
    try:
        app.config["MTURK_LOCAL_PORT"] = sock.getsockname()[1]
        env["HITBLOCKS_MTURK_LOCAL_PORT"] = str(sock.getsockname()[1])
        env["HITBLOCKS_MTURK_LOCAL_CONTENT_PORT"] = str(content_sock.getsockname()[1])
        command = ["mturk-local", "--content-fd", str(content_sock.fileno())]
        part = serving.start_part("The local MTurk service", command, sock, env, [content_sock])
    finally:
        sock.close()
        content_sock.close()
    click.echo(f"Local MTurk service: requester API at {base}/ , worker site at {base}/worker")
    click.echo(f"Task content origin at {_local_urls(app)[1]}/")
    return part


# How long a stop waits for the notification thread's pass to end (a send, a sweep) before
# the process exits without it: the thread is a daemon, and a row it was sending is sent
# again once its lease ends (at least once), so Ctrl-C never waits on AWS or a lock.
STOP_DELIVERING_SECONDS = 3.0


def _notification_deliverer(app: Flask) -> notifications.Deliverer:
    """The deliverer of the local service's notifications, on a store of its own, sending
    through boto3 to the configured endpoint (HITBLOCKS_NOTIFICATIONS_*)."""
    try:
        store = Store(app.config["MTURK_LOCAL_DATABASE_URL"])
    except service_schema.SchemaBehind as exc:
        raise click.ClickException(str(exc)) from None
    endpoint_url = str(app.config["NOTIFICATIONS_ENDPOINT_URL"] or "")
    region = str(app.config["NOTIFICATIONS_REGION"] or "") or None
    send = notifications.AwsTransports(notifications.boto3_clients(endpoint_url), region)
    return notifications.Deliverer(store, send)


def _start_notifications(app: Flask, deliverer: notifications.Deliverer) -> notifications.Running:
    """Deliver in a thread of this process, the one that supervises the service's arbiter:
    one deliverer, whatever the number of web workers, never in the way of a request. The
    same thread applies what time does (expiry, deadlines, auto-approval) as it comes."""
    endpoint_url = str(app.config["NOTIFICATIONS_ENDPOINT_URL"] or "")
    region = str(app.config["NOTIFICATIONS_REGION"] or "") or None
    click.echo(notifications.describe(endpoint_url, region, os.getpid()))
    return notifications.Running(deliverer, lifecycle.Clock(deliverer.store).tick)


@main.command("mturk-notifications", hidden=True)
@click.pass_context
def mturk_notifications_command(ctx: click.Context) -> None:
    """Only send the local MTurk service's notifications, until stopped: for a service served
    by other means (`hitblocks run` and `hitblocks mturk-local` send them already)."""
    app = ctx.ensure_object(ScriptInfo).load_app()
    deliverer = _notification_deliverer(app)
    delivering = _start_notifications(app, deliverer)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        delivering.stop(timeout=STOP_DELIVERING_SECONDS)
        deliverer.store.dispose()


@main.command("serve-api", hidden=True)
@click.option("--fd", type=int, required=True, help="The listening socket, from `hitblocks run`.")
@click.option("--workers", type=click.IntRange(min=1), required=True)
@click.option("--threads", type=click.IntRange(min=1), required=True)
@click.pass_context
def serve_api_command(ctx: click.Context, fd: int, workers: int, threads: int) -> None:
    """The API's gunicorn arbiter, started by `hitblocks run`."""
    serving.stop_with_parent()
    app = ctx.ensure_object(ScriptInfo).load_app()
    with app.app_context():
        engines = list(db.engines.values())
    serving.serve(app, engines, fd, name="hitblocks-api", workers=workers, threads=threads)


@main.command("mturk-local")
@click.option("--host", default=None, help="Interface to listen on (HITBLOCKS_MTURK_LOCAL_HOST).")
@click.option("--port", type=int, default=None, help="Port (HITBLOCKS_MTURK_LOCAL_PORT).")
@click.option(
    "--content-port",
    type=int,
    default=None,
    help="Port of the task content origin (HITBLOCKS_MTURK_LOCAL_CONTENT_PORT).",
)
@click.option("--fd", type=int, default=None, hidden=True, help="Socket from `hitblocks run`.")
@click.option("--content-fd", type=int, default=None, hidden=True)
@click.pass_context
def mturk_local_command(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    content_port: int | None,
    fd: int | None,
    content_fd: int | None,
) -> None:
    """Run only the local MTurk-compatible service: requester API, worker site and the task
    content origin (on a port of its own), and its notifications."""
    app = ctx.ensure_object(ScriptInfo).load_app()
    if fd is None or content_fd is None:
        if host:
            app.config["MTURK_LOCAL_HOST"] = host
        if port is not None:
            app.config["MTURK_LOCAL_PORT"] = port
        if content_port is not None:
            app.config["MTURK_LOCAL_CONTENT_PORT"] = content_port
        _supervise_local_mturk(app)
        return
    serving.stop_with_parent()
    local = _local_app(app)
    content = create_content_app(local_store(local), _local_urls(app)[0])
    dispatch = serving.ByPort(
        {serving.listening_port(fd): local, serving.listening_port(content_fd): content}
    )
    serving.serve(
        dispatch,
        [local_store(local).engine],
        [fd, content_fd],
        name="hitblocks-mturk-local",
        workers=serving.MTURK_LOCAL_WORKERS,
        threads=serving.MTURK_LOCAL_THREADS,
    )


def _supervise_local_mturk(app: Flask) -> None:
    """`hitblocks mturk-local` alone: supervise the service's gunicorn arbiter (a part, as
    under `hitblocks run`) and send its notifications from this process, until stopped."""
    env = dict(os.environ)
    env["HITBLOCKS_MTURK_LOCAL_HOST"] = str(app.config["MTURK_LOCAL_HOST"])
    deliverer = _notification_deliverer(app)
    parts: list[serving.Part] = []
    delivering = None
    exited = None
    try:
        parts.append(_start_local_mturk(app, env, "use --port"))
        delivering = _start_notifications(app, deliverer)
        exited = serving.supervise(parts)
    finally:
        serving.stop_parts(parts)
        if delivering is not None:
            delivering.stop(timeout=STOP_DELIVERING_SECONDS)
        deliverer.store.dispose()
    if exited is not None:
        raise click.ClickException(
            f"{exited.name} exited (code {exited.process.returncode}), so everything stopped."
        )


def scheduler_enabled(app: Flask) -> bool:
    return str(app.config["SCHEDULER"]).lower() not in {"off", "false", "0", "no"}


@main.command("worker")
@with_appcontext
def worker_command() -> None:
    """Run only the scheduled jobs (the poller), not the web service."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"Poller: every {app.config['POLL_INTERVAL_SECONDS']} s")
    # Ctrl-C and SIGTERM (a service manager's stop) end it alike, letting its leases go; a
    # poll cycle under way is finished first.
    stopped = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stopped.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        jobs.run_blocking(app, stopped)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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


@main.group("users")
def users_group() -> None:
    """Manage console users: people who sign in at /console (programs use API keys)."""


def _password_from_stdin() -> str:
    """The password on standard input (its first line), so it shows in no process list or
    shell history."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("No password on standard input.")
    return password


@users_group.command("create")
@click.option("--account", "account_name", required=True, help="The user's account's name.")
@click.option(
    "--create-account",
    is_flag=True,
    help="Make the account when none has this name (otherwise an unknown name is refused).",
)
@click.option("--email", required=True, help="The user's email address (their sign-in name).")
@click.option(
    "--role",
    type=click.Choice(users.ROLES),
    default=users.REVIEWER.value,
    show_default=True,
    help="admin: everything, API keys included; reviewer: review only.",
)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
@with_appcontext
def create_user_command(
    account_name: str, create_account: bool, email: str, role: str, password_stdin: bool
) -> None:
    """Create a console user: echo "$PASSWORD" | hitblocks users create ... --password-stdin."""
    try:
        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
    except SchemaNotCurrent as exc:
        raise click.ClickException(str(exc)) from None
    password = _password_from_stdin()
    try:
        user = users.create_user(
            db.session, account_name, email, password, role, create_account=create_account
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {user.role} {user.email} of account {account_name!r}.")


@users_group.command("list")
@click.option("--account", "account_name", help="Only this account's users.")
@with_appcontext
def list_users_command(account_name: str | None) -> None:
    """List console users: account, email, role, created, status."""
    for row in users.list_users(db.session, account_name):
        state = f"disabled {row.disabled:%Y-%m-%d %H:%M}" if row.disabled else "active"
        click.echo(
            f"{row.account_name}\t{row.email}\t{row.role}\tcreated {row.created:%Y-%m-%d %H:%M}"
            f"\t{state}"
        )


@users_group.command("set-password")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read it from stdin.")
@with_appcontext
def set_password_command(email: str, password_stdin: bool) -> None:
    """Give a user a new password; their open sessions end."""
    password = _password_from_stdin()
    try:
        users.set_password(db.session, email, password)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo("Password changed; the user's sessions have ended.")


@users_group.command("disable")
@click.option("--email", required=True)
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
@with_appcontext
def disable_user_command(email: str, enable: bool) -> None:
    """Disable a user (their sessions end at once), or enable them again."""
    try:
        users.set_disabled(db.session, email, disabled=not enable)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo("Enabled." if enable else "Disabled; the user's sessions have ended.")


if __name__ == "__main__":
    main()
