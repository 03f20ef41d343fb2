from __future__ import annotations

import os

from app import create_app
from app.config import normalize_database_url


def test_defaults_need_no_configuration(monkeypatch):
    for name in list(os.environ):
        if name.startswith("HITBLOCKS_"):
            monkeypatch.delenv(name)
    app = create_app()
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert uri == "sqlite:///" + os.path.join(app.instance_path, "hitblocks.sqlite3")
    assert app.config["AUTO_MIGRATE"] is True
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024
    assert app.config["BATCH_MAX_ROWS"] == 10_000


def test_environment_variables_with_the_prefix_configure_the_app(monkeypatch, tmp_path):
    monkeypatch.setenv("HITBLOCKS_DATABASE_URL", "postgres://u@db.example/hb")
    monkeypatch.setenv("HITBLOCKS_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("HITBLOCKS_BATCH_MAX_ROWS", "50000")
    monkeypatch.setenv("HITBLOCKS_BOOTSTRAP_ACCOUNT", "lab")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/hb"
    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    assert app.config["BATCH_MAX_ROWS"] == 50_000
    assert app.config["BOOTSTRAP_ACCOUNT"] == "lab"
    assert app.config["AUTO_MIGRATE"] is False  # only SQLite migrates itself by default
    monkeypatch.setenv("HITBLOCKS_AUTO_MIGRATE", "true")
    assert create_app().config["AUTO_MIGRATE"] is True


def test_database_url_spellings():
    assert normalize_database_url("postgresql://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalize_database_url("postgresql+psycopg://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_database_behind_the_migrations_is_refused_unless_auto_migrate(tmp_path):
    import pytest

    from app.bootstrap import SchemaNotCurrent, prepare

    url = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    with pytest.raises(SchemaNotCurrent, match="hitblocks db upgrade"):
        prepare(create_app({"DATABASE_URL": url, "AUTO_MIGRATE": False}))
    issued = prepare(create_app({"DATABASE_URL": url}))  # SQLite migrates itself by default
    assert issued is not None and issued.account_name == "default"
    assert prepare(create_app({"DATABASE_URL": url, "AUTO_MIGRATE": False})) is None
