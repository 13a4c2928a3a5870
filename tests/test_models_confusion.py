"""The models page shows the request-type confusion matrices (held-out gold, with and
without the subject) of the active bundle."""

from __future__ import annotations

import re

from classifiers.bundle import active_version, read_meta


def test_models_page_shows_the_confusion_matrices(classified_app, client, auth, office):
    models = classified_app.config["MODELS_DIR"]
    figures = read_meta(models, active_version(models)).metrics["request_type"]
    auth.login("admin")
    page = client.get("/admin/models").get_data(as_text=True)
    assert "诉求类型：人工标注留出集评估" in page
    assert "含主题（标题+正文）" in page and "仅正文（无主题）" in page
    tables = re.findall(r'<table class="plain confusion"[^>]*>(.*?)</table>', page, re.S)
    assert len(tables) == 2
    for table, key in zip(tables, ("gold_confusion", "gold_confusion_body_only"), strict=True):
        cm = figures[key]
        for label, counts in zip(cm["labels"], cm["matrix"], strict=True):
            row = re.search(rf"<tr><th>{label}</th>(.*?)</tr>", table, re.S).group(1)
            cells = [
                int(c) for c in re.findall(r'<td class="num">(?:<b>)?(\d+)(?:</b>)?</td>', row)
            ]
            assert cells[: len(counts)] == counts and cells[len(counts)] == sum(counts)
    assert f"{figures['gold_accuracy_body_only']:.3f}" in page
