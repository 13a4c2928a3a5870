"""The command line contract: create-user, source add, unit add, seed-demo, health."""

from __future__ import annotations

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from sentinel.extensions import db
from sentinel.models import ApiToken, Case, Source, Unit, User
from sentinel.services import sources


def test_create_user_reads_the_password_from_stdin(runner, office):
    result = runner.invoke(
        args=["create-user", "wang", "--role", "handler", "--unit", "县教育局"],
        input="s3cret-passw0rd\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User).where(User.username == "wang")).one()
    assert check_password_hash(user.password_hash, "s3cret-passw0rd")
    assert [u.name for u in user.units] == ["县教育局"] and user.role == "handler"


def test_create_user_errors_are_clear(runner, office):
    result = runner.invoke(
        args=["create-user", "x", "--role", "handler", "--unit", "不存在的局"],
        input="longenough1\n",
    )
    assert result.exit_code != 0 and "不存在" in result.output
    result = runner.invoke(
        args=["create-user", "y", "--role", "handler", "--unit", "县教育局"], input="short\n"
    )
    assert result.exit_code != 0 and "密码至少" in result.output
    result = runner.invoke(
        args=["create-user", "duty", "--role", "handler", "--unit", "县教育局"],
        input="longenough1\n",
    )
    assert result.exit_code != 0 and "已存在" in result.output


def test_source_add_prints_a_working_token_as_the_last_line(runner, client, office):
    result = runner.invoke(
        args=["source", "add", "政务网接口", "--platform", "api", "--unit", "县教育局"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("snt_") and " " not in token
    source = db.session.scalars(select(Source).where(Source.name == "政务网接口")).one()
    assert sources.source_for_token(token) == source
    assert (
        db.session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.token_hash == token)
        )
        == 0
    )
    response = client.post(
        "/api/v1/items",
        json={"items": [{"external_id": "1", "text": "你好"}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202


def test_unit_add_builds_the_tree(runner, office):
    assert (
        runner.invoke(
            args=["unit", "add", "基础教育科", "--kind", "section", "--parent", "县教育局"]
        ).exit_code
        == 0
    )
    unit = db.session.scalars(select(Unit).where(Unit.name == "基础教育科")).one()
    assert unit.path == f"{office.edu.path}{unit.id}/"


def test_seed_demo_loads_a_real_office_once(runner, app):
    result = runner.invoke(args=["seed-demo", "--items", "120"])
    assert result.exit_code == 0, result.output
    assert "duty" in result.output and "sentinel-demo" in result.output
    cases = db.session.scalar(select(func.count()).select_from(Case))
    assert cases >= 100
    statuses = set(db.session.scalars(select(Case.status)))
    assert {"new", "dispatched", "acknowledged"} <= statuses
    # The office's Q&A list is imported; most of it is on the public FAQ page.
    from sentinel.models import FaqEntry

    visibilities = list(db.session.scalars(select(FaqEntry.visibility)))
    assert visibilities.count("public") >= 40 and "internal" in visibilities
    public = db.session.scalar(select(FaqEntry.question).where(FaqEntry.visibility == "public"))
    assert public[:20] in app.test_client().get("/faq").get_data(as_text=True)
    again = runner.invoke(args=["seed-demo"]).output
    assert again.startswith("演示数据已存在") and "duty" in again
    assert db.session.scalar(select(func.count()).select_from(Case)) == cases


def test_health_reports_and_succeeds_in_embedded_mode(runner, office):
    result = runner.invoke(args=["health"])
    assert result.exit_code == 0, result.output
    assert "数据库可用" in result.output and "recover_jobs" in result.output
