"""Fixtures for the whole suite, read like a recipe.

The suite runs on SQLite with in-process jobs by default. With
``SENTINEL_TEST_DATABASE_URL`` (PostgreSQL) and ``SENTINEL_TEST_REDIS_URL`` set — as
``make test`` does in its second pass — the same tests run against the real servers.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from sentinel import create_app
from sentinel.auth.permissions import Actor
from sentinel.extensions import db
from sentinel.models import Base, Source, Unit, User
from sentinel.services import sources, units, users

PG_URL = os.environ.get("SENTINEL_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SENTINEL_TEST_REDIS_URL")
PASSWORD = "correct-horse-9"
SEED_ACTOR = Actor(label="test")


def pytest_report_header() -> str:
    database = "postgresql" if PG_URL else "sqlite"
    return f"sentinel backends: database={database} redis={'yes' if REDIS_URL else 'no'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for the session (a fresh PostgreSQL database or SQLite file)."""
    if PG_URL:
        import psycopg

        server_url, name = PG_URL.rsplit("/", 1)
        with psycopg.connect(server_url + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_URL
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "JOBS_MODE": "sync",
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
        }
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url


def _empty_all_tables() -> None:
    from sqlalchemy import inspect

    existing = set(inspect(db.engine).get_table_names())
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in existing]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))
    db.session.commit()


@pytest.fixture
def app_config(database_url: str, tmp_path: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "JOBS_MODE": "sync",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SECRET_KEY": "test-secret",
        "MODELS_DIR": str(tmp_path / "models"),
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The app with an empty database; every table is emptied again afterwards."""
    app = create_app(app_config)
    with app.app_context():
        _empty_all_tables()
        yield app
        db.session.remove()
        _empty_all_tables()
        db.session.remove()
        db.engine.dispose()
    shutil.rmtree(app.instance_path, ignore_errors=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class Office:
    """Factories for a small office: a county root, two departments, users and sources."""

    def __init__(self) -> None:
        self.root = units.create_unit(SEED_ACTOR, "测试县政府办", "county")
        self.edu = units.create_unit(SEED_ACTOR, "县教育局", "department", self.root)
        self.health = units.create_unit(SEED_ACTOR, "县卫健局", "department", self.root)
        self.users: dict[str, User] = {}
        for name, role, unit in (
            ("admin", "admin", None),
            ("duty", "duty_officer", self.root),
            ("leader", "leader", self.root),
            ("reviewer", "reviewer", self.root),
            ("edu_handler", "handler", self.edu),
            ("health_handler", "handler", self.health),
        ):
            self.users[name] = users.create_user(
                SEED_ACTOR, name, PASSWORD, role, [unit] if unit else []
            )
        self.source = sources.create_source(
            SEED_ACTOR, "测试微博", "weibo", "测试县发布", self.root
        )
        self.token = sources.issue_token(SEED_ACTOR, self.source)
        self.other_source = sources.create_source(SEED_ACTOR, "县长信箱", "mailbox", "", self.root)
        self.other_token = sources.issue_token(SEED_ACTOR, self.other_source)
        db.session.commit()

    def actor(self, name: str) -> Actor:
        return Actor.for_user(self.users[name], "127.0.0.1")

    def ingest(self, *texts: str, source: Source | None = None) -> list[Any]:
        """Ingest texts as items (external ids t0, t1, … unless already used)."""
        from sentinel.services import ingest

        source = source or self.source
        start = len(list(source_items(source)))
        results = ingest.ingest_items(
            SEED_ACTOR,
            source,
            [ingest.IncomingItem(external_id=f"t{start + i}", text=t) for i, t in enumerate(texts)],
        )
        db.session.commit()
        return results

    def case(self, text: str = "请问社保卡在哪里补办？") -> Any:
        from sentinel.models import Case

        result = self.ingest(text)[0]
        case = db.session.get(Case, result.case_id)
        assert case is not None
        return case

    def unit(self, name: str) -> Unit:
        return {"root": self.root, "edu": self.edu, "health": self.health}[name]


def source_items(source: Source) -> Any:
    from sqlalchemy import select

    from sentinel.models import Item

    return db.session.scalars(select(Item.id).where(Item.source_id == source.id))


@pytest.fixture
def office(app: Flask) -> Office:
    return Office()


class Auth:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, username: str, password: str = PASSWORD) -> Any:
        return self.client.post("/login", data={"username": username, "password": password})

    def logout(self) -> Any:
        return self.client.post("/logout")


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


TRAIN_LIMIT = 2500  # rows per data set for the test bundle (full data: `sentinel train`)


@pytest.fixture(scope="session")
def trained_models_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One trained, active model bundle for the whole session, on a documented subset
    (``TRAIN_LIMIT`` rows of each data set). ``SENTINEL_TEST_MODELS_DIR`` reuses a
    directory that already holds an active bundle (to iterate quickly)."""
    from classifiers.bundle import active_version
    from classifiers.training import train_all

    reuse = os.environ.get("SENTINEL_TEST_MODELS_DIR")
    if reuse and active_version(reuse):
        return reuse
    root = reuse or str(tmp_path_factory.mktemp("models"))
    data = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
    train_all(
        root, data_dir=data, limit=TRAIN_LIMIT, progress=False, baselines=False, activate="always"
    )
    return root


@pytest.fixture
def classified_app(app: Flask, trained_models_dir: str) -> Flask:
    """The app with a trained model: ingested items get classified."""
    app.config["MODELS_DIR"] = trained_models_dir
    return app
