"""The rule catalog (campus_logistics.rules) explains every rule id the project can record: the ids
the sources pass to ``Rule``, ``FileRejected``, the feeds' reject helpers, ``RunRejected`` and the
file warnings, and every id docs/bad-inputs.md names in its rule column."""

from __future__ import annotations

import re
from pathlib import Path

from campus_logistics import rules

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "plugins" / "campus_logistics"
# where a rule id is written in the sources: Rule("id", …), FileRejected(feed, file, "id", …),
# self._reject("id", …) / self.reject("id", …) / reject("id", …), RunRejected("id", …),
# rule="id", and the literal ids the loaders record for duplicates, gate rows and file warnings
PATTERNS = [
    r'\bRule\(\s*"(\w+)"',
    r'FileRejected\(\s*[^,()]+,\s*[^,()]+(?:\([^)]*\))?,\s*f?"([\w{}]+)"',
    r'\b_?reject\(\s*f?"([\w{}]+)"',
    r'\bRunRejected\(\s*"(\w+)"',
    r'\brule\s*=\s*"(\w+)"',
    r'"(\w+_conflict|\w+_collapsed|malformed_row|empty_row|person_in_two_units)"',
    r'^[A-Z_]+ = "(\w+_file\w*|unexpected_\w+)"',
]


def source_rule_ids() -> dict[str, str]:
    ids = {}
    for path in SOURCES.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in PATTERNS:
            for m in re.finditer(pattern, text, re.M):
                ids.setdefault(m.group(1).replace("{col}", "some_column"), path.name)
    return ids


def documented_rule_ids() -> set[str]:
    ids = set()
    for line in (ROOT / "docs" / "bad-inputs.md").read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if len(cells) > 5 and cells[1].strip().isdigit():
            ids |= set(re.findall(r"`(\w+)`", cells[4]))
    return ids


def test_the_scan_finds_the_rules_of_every_kind():
    found = set(source_rule_ids())
    # one of each way a rule id is written, so a broken pattern cannot pass silently
    assert {"outlet_known", "encoding", "not_empty", "range_max_days", "duplicate_collapsed", "malformed_row",
            "same_content_as_other_file", "unexpected_file_name", "some_column_valid", "xlsx_readable"} <= found
    assert len(found) > 80


def test_every_rule_the_sources_can_record_is_explained():
    missing = {rule: where for rule, where in source_rule_ids().items() if rules.explain(rule) is None}
    assert missing == {}


def test_every_rule_the_docs_name_is_explained():
    assert sorted(r for r in documented_rule_ids() if rules.explain(r) is None) == []


def test_explanations_are_in_chinese_and_english():
    for rule, (zh, en) in rules.RULES.items():
        assert re.search(r"[\u4e00-\u9fff]", zh) and en and en[0].isupper(), rule
    assert rules.explain_all("outlet_known, amount_plausible") == [
        ("outlet_known", *rules.RULES["outlet_known"]), ("amount_plausible", *rules.RULES["amount_plausible"])]
    assert rules.explain("semester_valid") == ("字段 semester 的值无效", "The value of field semester is invalid")
    assert rules.explain_all("no_such_rule")[0][2] == "A rule the catalog does not list"
