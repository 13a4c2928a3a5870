"""Classification wired into ingest: labels on items and cases, near-duplicates, corrections,
triage filters, model versions."""

from __future__ import annotations

from sqlalchemy import select

from sentinel.extensions import db
from sentinel.models import AuditEvent, Case, Item, LabelCorrection
from sentinel.services import corrections
from sentinel.timefmt import format_local
from tests.support.bundles import older_format_copy


def test_ingest_classifies_items_and_labels_their_cases(classified_app, office):
    consultation = office.case("请问社保卡丢失了在哪里补办？需要带什么材料？")
    complaint = office.case("投诉A市A3区某小区物业乱收停车费，多次反映没人管，业主非常气愤！")
    for case in (consultation, complaint):
        db.session.refresh(case)
    assert consultation.sentiment == "neutral"
    assert consultation.request_type == "咨询"
    assert complaint.sentiment == "negative"
    assert complaint.request_type == "投诉"
    item = db.session.scalars(select(Item).where(Item.case_id == complaint.id)).one()
    assert item.model_version and item.processed_at
    assert item.explanation["topic_terms"] and item.explanation["sentiment_terms"]
    assert complaint.topic and 0 <= complaint.topic_confidence <= 1
    assert complaint.risk_tier in {"A", "B", "C"}


def test_near_duplicate_attaches_to_the_earlier_case(classified_app, office):
    first = office.case("A市A3区魏家坡小区脏乱差，垃圾堆放多日无人清运，多次向社区反映得不到解决")
    second = office.case(
        "A市A3区魏家坡小区脏乱差，垃圾堆放多日无人清运，多次向社区反映都得不到解决！"
    )
    db.session.refresh(first)
    db.session.refresh(second)
    assert second.status == "merged" and second.merged_into_id == first.id
    assert first.ask_count == 2
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.merge")).one()
    assert event.actor_label == "classifier" and event.data["similarity"] >= 0.8


def test_unrelated_texts_stay_separate(classified_app, office):
    a = office.case("请问公积金贷款额度怎么计算？")
    b = office.case("建议在人民公园增设公共厕所和饮水点")
    db.session.refresh(b)
    assert b.status == "new" and b.merged_into_id is None and a.id != b.id


def test_officer_corrects_a_label_in_one_click(classified_app, client, auth, office):
    case = office.case("请问今年中考体育考试的项目有哪些？")
    auth.login("duty")
    response = client.post(
        f"/cases/{case.id}/correct", data={"field": "request_type", "value": "建议"}
    )
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.request_type == "建议"
    correction = db.session.scalars(select(LabelCorrection)).one()
    assert correction.old_value == "咨询" and correction.new_value == "建议"
    assert correction.corrected_by_id == office.users["duty"].id
    assert list(corrections.training_rows()) == [
        {"text": "请问今年中考体育考试的项目有哪些?", "field": "request_type", "label": "建议"}
    ]
    assert "case.correct" in db.session.scalars(select(AuditEvent.action)).all()
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "智能分类" in page and "依据" in page


def test_invalid_corrections_are_refused(classified_app, client, auth, office):
    case = office.case("请问今年中考体育考试的项目有哪些？")
    auth.login("duty")
    response = client.post(
        f"/cases/{case.id}/correct",
        data={"field": "sentiment", "value": "angry"},
        follow_redirects=True,
    )
    assert "情感倾向只能是" in response.get_data(as_text=True)
    auth.logout()
    auth.login("leader")
    assert (
        client.post(
            f"/cases/{case.id}/correct", data={"field": "sentiment", "value": "positive"}
        ).status_code
        == 403
    )
    assert db.session.scalars(select(LabelCorrection)).all() == []


def test_triage_filters_by_labels(classified_app, client, auth, office):
    office.case("投诉A市A3区某小区物业乱收停车费，多次反映没人管，业主非常气愤！")
    office.case("请问社保卡丢失了在哪里补办？需要带什么材料？")
    auth.login("duty")
    negative = client.get("/triage/?sentiment=negative").get_data(as_text=True)
    assert "乱收停车费" in negative and "社保卡丢失" not in negative
    consult = client.get("/triage/?request_type=咨询").get_data(as_text=True)
    assert "社保卡丢失" in consult and "乱收停车费" not in consult


def test_model_versions_page_and_rollback(classified_app, client, auth, office, tmp_path):
    import shutil

    from classifiers.bundle import active_version, list_versions

    models = tmp_path / "models-copy"
    shutil.copytree(classified_app.config["MODELS_DIR"], models)
    classified_app.config["MODELS_DIR"] = str(models)
    first = active_version(models)
    # A second version: the same bundle under a newer name (training is tested elsewhere).
    second = first[:-1] + ("0" if first[-1] != "0" else "1")
    shutil.copytree(models / first, models / second)
    meta = (models / second / "meta.json").read_text(encoding="utf-8").replace(first, second)
    (models / second / "meta.json").write_text(meta, encoding="utf-8")
    assert {v.version for v in list_versions(models)} == {first, second}
    auth.login("admin")
    page = client.get("/admin/models").get_data(as_text=True)
    assert first in page and second in page and "启用中" in page
    trained_at = next(v.trained_at for v in list_versions(models) if v.version == first)
    assert format_local(trained_at) in page and trained_at not in page  # Shanghai wall clock
    client.post("/admin/models", data={"version": second})
    assert active_version(models) == second
    client.post("/admin/models", data={"version": first})  # roll back
    assert active_version(models) == first
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "models.activate")
    ).all()
    assert [e.data["version"] for e in events] == [second, first]
    auth.logout()
    auth.login("duty")
    assert client.get("/admin/models").status_code == 403


def test_no_model_means_no_labels_but_ingest_works(app, office):
    case = office.case("请问社保卡丢失了在哪里补办？")
    db.session.refresh(case)
    assert case.sentiment is None and case.status == "new"
    assert db.session.scalars(select(Item.processed_at)).one() is not None
    assert db.session.get(Case, case.id).ask_count == 1


def test_bundle_from_older_code_is_refused_everywhere(
    classified_app, client, auth, office, runner, tmp_path
):
    """Admin activation is refused with the reason; an ACTIVE pointer left on such a bundle
    fails health with the reason, ingest still works (items wait unlabelled), and
    ``train --if-missing`` retrains instead of skipping."""
    import shutil

    from classifiers.bundle import active_version
    from classifiers.pipeline import clear_cache

    models = tmp_path / "models-copy"
    shutil.copytree(classified_app.config["MODELS_DIR"], models)
    classified_app.config["MODELS_DIR"] = str(models)
    good = active_version(models)
    old = older_format_copy(models, good, "20000101-000000-oldcode").name

    auth.login("admin")
    page = client.get("/admin/models").get_data(as_text=True)
    assert old in page and "旧版格式，需重新训练" in page
    response = client.post("/admin/models", data={"version": old}, follow_redirects=True)
    assert "旧版程序训练" in response.get_data(as_text=True)
    assert active_version(models) == good
    assert not db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "models.activate")
    ).all()

    (models / "ACTIVE").write_text(old + "\n", encoding="utf-8")
    clear_cache()
    try:
        health = runner.invoke(args=["health"])
        assert health.exit_code == 1 and "旧版程序训练" in health.output
        case = office.case("请问社保卡丢失了在哪里补办？")
        assert db.session.get(Case, case.id).sentiment is None

        result = runner.invoke(
            args=["train", "--if-missing", "--limit", "300", "--no-baselines", "--quiet"]
        )
        assert result.exit_code == 0, result.output
        assert "旧版程序训练" in result.output and "现在重新训练" in result.output
        assert active_version(models) not in (old, good)
        assert runner.invoke(args=["health"]).exit_code == 0
        assert "跳过训练" in runner.invoke(args=["train", "--if-missing"]).output
    finally:
        clear_cache()
