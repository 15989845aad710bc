"""Great Expectations Data Docs: built once per load from the load's results, personal values
pseudonymised, pages rewritten to local assets, and the validation context's memory released."""

from __future__ import annotations


def test_publish_builds_offline_pages_with_pseudonymised_values(tmp_path, monkeypatch):
    import pandas as pd

    from campus_logistics.load import validate as validation
    from campus_logistics.quality_docs import publish
    from campus_logistics.quality_docs.assets import external_assets

    monkeypatch.setenv("CAMPUS_LOGISTICS_DATA_DOCS_DIR", str(tmp_path / "docs"))
    check = validation.validator("docs_probe", [
        validation.Rule("card_digits", lambda g: g.ExpectColumnValuesToMatchRegex(column="卡号", regex=r"^\d{5}$")),
        validation.Rule("amount_range", lambda g: g.ExpectColumnValuesToBeBetween(column="amount", min_value=0)),
    ])
    publish("probe", "drain-earlier-results")  # results other tests left in this process
    frame = pd.DataFrame({"_row": [2, 3, 4], "卡号": ["10001", "CARD-RAW-7", "10003"], "amount": [5, -1, 7]})
    assert sorted(check.validate(frame).failures) == [3]
    assert sorted(check.validate(frame.iloc[:1]).failures) == []

    index = publish("probe", "manual__2001-03-05T00:00:00+00:00", lambda raw: f"pseudo-{len(raw)}")
    assert index == tmp_path / "docs" / "site" / "index.html"
    pages = sorted((tmp_path / "docs" / "site" / "validations" / "docs_probe").rglob("*.html"))
    assert len(pages) == 2  # one page per validation of this load, under the run id
    assert all("manual__2001-03-05T00_00_00_00_00" in str(p) for p in pages)
    stored = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "docs").rglob("*") if p.suffix in (".html", ".json"))
    assert "CARD-RAW-7" not in stored and "pseudo-10" in stored  # the raw card never reaches the docs
    for page in [index, *pages]:
        assert external_assets(page.read_text(encoding="utf-8")) == []
    assert (tmp_path / "docs" / "site" / "static" / "vendor" / "jquery@3.7.1" / "dist" / "jquery.min.js").is_file()
    assert validation._context.validation_results_store.list_keys() == []  # drained: nothing accumulates
    assert publish("probe", "nothing-validated-since") is None


def test_turned_off_builds_nothing_but_still_drains(tmp_path, monkeypatch):
    import pandas as pd

    from campus_logistics.load import validate as validation
    from campus_logistics.quality_docs import publish

    monkeypatch.setenv("CAMPUS_LOGISTICS_DATA_DOCS_DIR", str(tmp_path / "docs"))
    monkeypatch.setenv("CAMPUS_LOGISTICS_DATA_DOCS", "off")
    check = validation.validator("docs_probe_off", [
        validation.Rule("amount_range", lambda g: g.ExpectColumnValuesToBeBetween(column="amount", min_value=0))])
    check.validate(pd.DataFrame({"_row": [2], "amount": [1]}))
    assert publish("probe", "run") is None
    assert not (tmp_path / "docs").exists()
    assert validation._context.validation_results_store.list_keys() == []


def test_values_from_files_are_escaped_in_the_pages(tmp_path, monkeypatch):
    """GX writes unexpected values into its tables raw: the build escapes them first, once (a reference
    value set, which GX's templates escape themselves, is not escaped twice)."""
    import pandas as pd

    from campus_logistics.load import validate as validation
    from campus_logistics.quality_docs import publish

    payload = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"
    monkeypatch.setenv("CAMPUS_LOGISTICS_DATA_DOCS_DIR", str(tmp_path / "docs"))
    check = validation.validator("docs_escape", [
        validation.Rule("outlet_known", lambda g: g.ExpectColumnValuesToBeInSet(column="商户名称",
                                                                                value_set=["第一食堂", f"ref{payload}"])),
    ])
    publish("probe", "drain-earlier-results")
    check.validate(pd.DataFrame({"_row": [2, 3], "商户名称": ["第一食堂", payload]}))
    publish("probe", f"manual__{payload}", lambda raw: raw)  # a run id is not rendered raw either
    [page] = (tmp_path / "docs" / "site" / "validations" / "docs_escape").rglob("*.html")
    text = page.read_text(encoding="utf-8")
    assert "<img src=x" not in text and "<script>alert" not in text
    escaped = "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
    assert escaped in text and f"ref{escaped}" in text  # the unexpected value and the value set, as text
    assert "&amp;lt;" not in text  # nothing escaped twice


def test_batches_are_named_by_feed_and_source_file_without_the_newsletter(tmp_path, monkeypatch):
    """A batch shows as its feed and source file (page header "Data asset", index column, page path),
    not ``<feed>-batch001`` / ``Data asset: None``; GX's newsletter footer is gone from every page."""
    import pandas as pd

    from campus_logistics.load import validate as validation
    from campus_logistics.quality_docs import publish

    monkeypatch.setenv("CAMPUS_LOGISTICS_DATA_DOCS_DIR", str(tmp_path / "docs"))
    check = validation.validator("docs_names", [
        validation.Rule("amount_range", lambda g: g.ExpectColumnValuesToBeBetween(column="amount", min_value=0))])
    publish("probe", "drain-earlier-results")
    frame = pd.DataFrame({"_row": [2, 3], "amount": [5, -1]})
    check.validate(frame, files=["canteen_20010305.csv"])
    check.validate(frame, files=["canteen_20010305.csv"])  # the file's second chunk
    check.validate(frame, files=["canteen_20010306.csv", "canteen_20010307.csv"])  # a window of two files
    hostile = "canteen_<img src=x onerror=alert(1)>.csv"
    check.validate(frame, files=[hostile])
    publish("canteen", "scheduled__2001-03-07T00:00:00+00:00", lambda raw: raw)
    site = tmp_path / "docs" / "site"
    pages = sorted(p.name for p in (site / "validations" / "docs_names").rglob("*.html"))
    assert pages == ["canteen_20010305.csv-part2.html", "canteen_20010305.csv.html",
                     "canteen_20010306.csv_to_canteen_20010307.csv.html", "canteen__img_src_x_onerror_alert_1_.csv.html"]
    first = next((site / "validations" / "docs_names").rglob("canteen_20010305.csv.html")).read_text(encoding="utf-8")
    assert "Data asset: None" not in first and "canteen: canteen_20010305.csv" in first
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "canteen: canteen_20010305.csv" in index and "batch0" not in index
    assert "canteen: canteen_20010306.csv … canteen_20010307.csv (2 files)" in index
    for page in [site / "index.html", *site.joinpath("validations").rglob("*.html")]:
        text = page.read_text(encoding="utf-8")
        assert "newsletter" not in text.lower() and "<img src=x" not in text, page
    assert "canteen: canteen__img src=x onerror=alert(1)_.csv" in index  # shown as text


def test_loads_save_and_the_run_builds_its_pages_once(tmp_path, monkeypatch):
    """A load task only saves its validations (no pages); the run's check builds the pages of every
    load saved under its run id, in one build, and no other run's."""
    import pandas as pd

    from campus_logistics.load import validate as validation
    from campus_logistics.quality_docs import build, publish, save

    monkeypatch.setenv("CAMPUS_LOGISTICS_DATA_DOCS_DIR", str(tmp_path / "docs"))
    check = validation.validator("docs_runs", [
        validation.Rule("amount_range", lambda g: g.ExpectColumnValuesToBeBetween(column="amount", min_value=0))])
    publish("probe", "drain-earlier-results")
    frame = pd.DataFrame({"_row": [2, 3], "amount": [5, -1]})
    check.validate(frame, files=["canteen_20010301.csv"])
    assert save("canteen", "manual__run_a") == 1  # partition 1 of run a (one process)
    check.validate(frame, files=["canteen_20010401.csv"])
    assert save("canteen", "manual__run_a") == 1  # partition 2 of run a
    check.validate(frame, files=["canteen_20010501.csv"])
    assert save("canteen", "manual__run_b") == 1  # another run, not built yet
    site = tmp_path / "docs" / "site"
    assert not site.exists()  # saving renders nothing
    assert sorted(p.name for p in (tmp_path / "docs" / "results").rglob("*.json")) == [
        "canteen_20010301.csv.json", "canteen_20010401.csv.json", "canteen_20010501.csv.json"]

    assert build("manual__run_a") == site / "index.html"
    pages = sorted(p.name for p in (site / "validations").rglob("*.html"))
    assert pages == ["canteen_20010301.csv.html", "canteen_20010401.csv.html"]  # both partitions, not run b
    assert build("manual__no_such_run") is None
    assert validation._context.validation_results_store.list_keys() == []  # drained by save
