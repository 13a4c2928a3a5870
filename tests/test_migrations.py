"""Migrations: one head, a clean round trip, and agreement with the models."""

from __future__ import annotations

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from sentinel import create_app
from sentinel.extensions import db
from sentinel.models import Base
from sentinel.services.text_search import include_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fresh_url(tmp_path, suffix: str) -> str:
    pg = os.environ.get("SENTINEL_TEST_DATABASE_URL")
    if not pg:
        return f"sqlite:///{tmp_path}/migrations-{suffix}.db"
    import psycopg

    server, name = pg.rsplit("/", 1)
    name = f"{name}_mig_{suffix}"
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def test_there_is_exactly_one_head():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", os.path.join(ROOT, "migrations"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_downgrade_upgrade_on_an_empty_database(tmp_path):
    url = _fresh_url(tmp_path, "roundtrip")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path / "i")})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"cases", "items", "users", "units", "sources", "audit_events", "job_runs"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert {"cases", "items"} <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_models_and_migrations_agree(tmp_path):
    url = _fresh_url(tmp_path, "agree")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path / "i")})
    with app.app_context():
        upgrade()
        uri = app.config["SQLALCHEMY_DATABASE_URI"]
        db.engine.dispose()
    engine = create_engine(uri)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        diff = compare_metadata(context, Base.metadata)
        conn.execute(text("select 1"))
    engine.dispose()
    assert diff == []
