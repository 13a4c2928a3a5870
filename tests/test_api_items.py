"""POST /api/v1/items and GET /api/v1/items/<id>: the ingest contract."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from sentinel.extensions import db
from sentinel.models import ApiToken, Case, Item, utcnow


def post(client, token, payload, **kwargs):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload, ensure_ascii=False)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/api/v1/items", data=body, headers=headers, **kwargs)


def item(n, text="请问社保卡在哪里补办？", **extra):
    return {"external_id": f"wb-{n}", "text": text, **extra}


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def assert_error_shape(response, status, code):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_batch_is_accepted_with_ids_in_request_order(client, office):
    payload = {
        "items": [
            item(
                1,
                "请问社保卡在哪里补办？",
                author="网友甲",
                created_at="2026-11-25T09:30:00+08:00",
                url="https://weibo.example/1",
                kind="comment",
            ),
            item(2, "小区门口的路灯坏了一个月了，没人修。"),
        ]
    }
    response = post(client, office.token, payload)
    assert response.status_code == 202
    results = response.get_json()["items"]
    assert [r["external_id"] for r in results] == ["wb-1", "wb-2"]
    assert all(set(r) >= {"external_id", "id", "case_id", "duplicate"} for r in results)
    assert [r["duplicate"] for r in results] == [False, False]
    stored = db.session.get(Item, results[0]["id"])
    assert stored.author == "网友甲" and stored.kind == "comment"
    assert stored.posted_at.isoformat() == "2026-11-25T01:30:00+00:00"
    assert stored.case_id == results[0]["case_id"]


def test_redelivery_stores_nothing_and_returns_the_same_id(client, office):
    first = post(client, office.token, {"items": [item(1)]}).get_json()["items"][0]
    before = (count(Item), count(Case))
    again = post(client, office.token, {"items": [item(1)]})
    assert again.status_code == 202
    second = again.get_json()["items"][0]
    assert second["id"] == first["id"] and second["case_id"] == first["case_id"]
    assert second["duplicate"] is True
    assert (count(Item), count(Case)) == before
    case = db.session.get(Case, first["case_id"])
    assert case.ask_count == 1


def test_same_external_id_on_another_source_is_a_different_item(client, office):
    a = post(client, office.token, {"items": [item(1)]}).get_json()["items"][0]
    b = post(client, office.other_token, {"items": [item(1)]}).get_json()["items"][0]
    assert a["id"] != b["id"]


def test_exact_duplicate_text_attaches_to_the_open_case_and_counts(client, office):
    text = "　请问社保卡在哪里补办？ "  # full-width space, trailing space: same after normalising
    r = post(client, office.token, {"items": [item(1), item(2, text), item(3, "别的问题")]})
    first, dup, other = r.get_json()["items"]
    assert dup["case_id"] == first["case_id"] and dup["duplicate"] is True
    assert other["case_id"] != first["case_id"]
    r2 = post(client, office.other_token, {"items": [item(9, "请问社保卡在哪里补办？")]})
    assert r2.get_json()["items"][0]["case_id"] == first["case_id"]
    assert db.session.get(Case, first["case_id"]).ask_count == 3


def test_unknown_fields_are_kept_not_lost(client, office):
    r = post(client, office.token, {"items": [item(1, reposts=12, likes=40, platform_uid="u1")]})
    stored = db.session.get(Item, r.get_json()["items"][0]["id"])
    assert stored.extra == {"reposts": 12, "likes": 40, "platform_uid": "u1"}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"text": "没有编号"}, "external_id"),
        ({"external_id": "x"}, "text"),
        ({"external_id": "x", "text": ""}, "text"),
        ({"external_id": "x", "text": "   "}, "text"),
        ({"external_id": "x", "text": "好", "created_at": "昨天"}, "created_at"),
        ({"external_id": "x", "text": "好", "kind": "tweet"}, "kind"),
        ({"external_id": 12, "text": "好"}, "external_id"),
    ],
)
def test_a_batch_with_any_invalid_item_is_refused_whole(client, office, bad, field):
    response = post(client, office.token, {"items": [item(1), bad]})
    error = assert_error_shape(response, 422, "validation_error")
    assert {"index": 1, "field": field} == {k: error["details"][0][k] for k in ("index", "field")}
    assert error["details"][0]["message"]
    assert count(Item) == 0 and count(Case) == 0


def test_duplicate_external_ids_inside_one_batch_are_refused(client, office):
    response = post(client, office.token, {"items": [item(1), item(1, "另一条")]})
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["index"] == 1
    assert count(Item) == 0


def test_more_than_the_batch_limit_is_refused(client, office):
    response = post(client, office.token, {"items": [item(n) for n in range(1001)]})
    assert_error_shape(response, 422, "validation_error")
    assert count(Item) == 0


@pytest.mark.parametrize("payload", [{}, {"items": []}, {"items": "x"}, [1, 2], {"item": []}])
def test_wrong_envelope_is_a_validation_error(client, office, payload):
    assert_error_shape(post(client, office.token, payload), 422, "validation_error")


def test_malformed_json_is_400(client, office):
    error = assert_error_shape(
        post(client, office.token, b'{"items": [ {"external_id": "1",'), 400, "bad_request"
    )
    assert "JSON" in error["message"]


def test_body_not_in_utf8_is_400(client, office):
    body = json.dumps({"items": [item(1)]}, ensure_ascii=False).encode("gbk")
    error = assert_error_shape(post(client, office.token, body), 400, "bad_request")
    assert "UTF-8" in error["message"]
    assert count(Item) == 0


def test_utf8_bom_body_is_accepted(client, office):
    body = "\ufeff".encode() + json.dumps({"items": [item(1)]}, ensure_ascii=False).encode()
    assert post(client, office.token, body).status_code == 202


def test_oversized_body_is_413(client, office, app):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    big = {"items": [item(1, "长" * 5000)]}
    assert_error_shape(post(client, office.token, big), 413, "payload_too_large")
    assert count(Item) == 0


@pytest.mark.parametrize("token", [None, "", "snt_wrong", "Basic abc"])
def test_missing_or_wrong_token_is_401(client, office, token):
    if token == "Basic abc":
        response = client.post(
            "/api/v1/items", json={"items": [item(1)]}, headers={"Authorization": "Basic abc"}
        )
    else:
        response = post(client, token, {"items": [item(1)]})
    assert_error_shape(response, 401, "unauthorized")
    assert count(Item) == 0


def test_revoked_token_is_401(client, office):
    for token in db.session.scalars(select(ApiToken).where(ApiToken.source_id == office.source.id)):
        token.revoked_at = utcnow()
    db.session.commit()
    assert_error_shape(post(client, office.token, {"items": [item(1)]}), 401, "unauthorized")


def test_tokens_are_stored_hashed(office):
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert office.token not in stored
    assert all(len(h) == 64 for h in stored)


def test_get_item_returns_it_to_its_own_source_only(client, office):
    created = post(client, office.token, {"items": [item(1)]}).get_json()["items"][0]
    response = client.get(
        f"/api/v1/items/{created['id']}", headers={"Authorization": f"Bearer {office.token}"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == created["id"] and body["case_id"] == created["case_id"]
    assert body["external_id"] == "wb-1" and body["text"] == "请问社保卡在哪里补办？"  # as received
    other = client.get(
        f"/api/v1/items/{created['id']}", headers={"Authorization": f"Bearer {office.other_token}"}
    )
    assert_error_shape(other, 404, "not_found")
    assert_error_shape(client.get(f"/api/v1/items/{created['id']}"), 401, "unauthorized")


def test_ingest_is_audited_without_message_text(client, office):
    from sentinel.models import AuditEvent

    post(client, office.token, {"items": [item(1), item(2, "第二条")]})
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "items.ingest")).one()
    assert event.actor_label == f"source:{office.source.id}"
    assert event.data["new"] == 2
    assert "社保" not in json.dumps(event.data, ensure_ascii=False)


def test_ingest_enqueues_processing_after_commit(client, office):
    from sentinel.models import JobRun

    r = post(client, office.token, {"items": [item(1)]}).get_json()["items"][0]
    run = db.session.scalars(select(JobRun).where(JobRun.name == "process_items")).one()
    assert run.args == {"item_ids": [r["id"]]}
    assert run.status == "succeeded"  # sync mode: delivered and run after the commit
    assert db.session.get(Item, r["id"]).processed_at is not None


def test_openapi_document_and_docs_page(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/items" in spec["paths"] and "/api/v1/items/{item_id}" in spec["paths"]
    assert "ItemBatchIn" in spec["components"]["schemas"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.get_data(as_text=True)
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
