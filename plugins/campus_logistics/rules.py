"""The one rule catalog: every rule id the project records, explained in words.

A rule id is what ``quality.rejected_rows.rule``, ``quality.validation_result``, the file-level
errors (``FileRejected``), the run checks (``RunRejected``) and ``quality.file_warning.code`` hold
(docs/bad-inputs.md). The Data quality page shows these explanations next to every id, so an
operator need not read the code; tests/unit/test_rules.py checks that no id the sources can record is
missing here.
"""

from __future__ import annotations

# rule id -> (中文, English). Ids are stable: never rename one, add a new one.
RULES: dict[str, tuple[str, str]] = {
    # whole files
    "not_empty": ("文件为空或没有数据行", "The file is empty or holds no data row"),
    "encoding": ("文件编码不是该数据源约定的编码", "The file is not in the encoding the feed uses"),
    "no_nul_bytes": ("文件含有空字节(0x00)，不是文本文件", "The file holds a NUL byte: not a text file"),
    "header_present": ("文件缺少表头行", "The file has no header row"),
    "header": ("表头缺少或多出列", "The header misses or adds columns"),
    "schema": ("文件结构与约定不符", "The file's structure does not match the feed's"),
    "truncated": ("文件被截断(最后一行不完整)", "The file is cut short (its last row is incomplete)"),
    "parseable": ("文件无法解析", "The file cannot be parsed"),
    "not_in_future": ("文件日期在未来", "The file's date is in the future"),
    "file_present": ("所需文件缺失", "A file the feed needs is missing"),
    "regular_file": ("不是普通文件(链接、目录或设备)", "Not a regular file (a link, directory or device)"),
    "inside_landing": ("文件位于落地目录之外", "The file lies outside the landing directory"),
    "xlsx_readable": ("不是可读的 .xlsx 工作簿", "Not a readable .xlsx workbook"),
    "one_sheet": ("工作簿有多个含数据的工作表", "More than one sheet of the workbook holds data"),
    "json_valid": ("不是有效的 JSON", "Not valid JSON"),
    "json_array": ("JSON 顶层不是数组", "The JSON is not an array at the top"),
    "month_matches_file": ("月份与文件名的月份不一致", "The month differs from the file name's month"),
    "month_parseable": ("月份无法解析", "The month cannot be parsed"),
    "person_in_two_units": ("同一人同月出现在两个单位", "One person appears in two units in the same month"),
    # reference data
    "unique_key": ("参考数据主键重复", "A reference key appears twice"),
    "reference_constraint": ("参考数据之间不一致", "The reference files contradict each other"),
    "ref_replace_explicit": ("替换参考数据须明确指定", "Replacing reference data must be asked for explicitly"),
    # rows
    "malformed_row": ("行格式错误(列数不对或引号不闭合)", "Malformed row (wrong field count or open quote)"),
    "empty_row": ("空行", "Empty row"),
    "fields_complete": ("必填字段缺失", "A required field is missing"),
    "row_is_object": ("JSON 行不是对象", "The JSON row is not an object"),
    "no_unknown_fields": ("含有未知字段", "The row holds unknown fields"),
    "txn_id_present": ("缺少流水号", "The transaction id is missing"),
    "card_present": ("缺少卡号", "The card number is missing"),
    "holder_type_known": ("持卡人类别未知", "Unknown card holder type"),
    "time_parseable": ("时间无法解析", "The time cannot be parsed"),
    "time_not_after_file_day": ("时间晚于文件日期", "The time is after the file's day"),
    "time_within_late_window": ("补录时间超出允许的迟到期限", "Late entry beyond the allowed window"),
    "outlet_known": ("食堂/窗口不在参考数据中", "The outlet is not in the reference data"),
    "amount_parseable": ("金额无法解析", "The amount cannot be parsed"),
    "amount_plausible": ("金额超出合理范围", "The amount is beyond the plausible range"),
    "amount_positive": ("金额必须为正数", "The amount must be positive"),
    "amount_max_2_decimals": ("金额超过两位小数", "The amount has more than 2 decimals"),
    "type_known": ("交易类型未知", "Unknown transaction type"),
    "amount_sign_matches_type": ("金额正负与交易类型不符", "The amount's sign does not match the type"),
    "original_id_matches_type": ("原流水号与交易类型不符", "The original transaction id does not match the type"),
    "entry_type_known": ("记账类型未知", "Unknown entry type"),
    "funding_source_known": ("资金来源未知", "Unknown funding source"),
    "unit_known": ("单位不在参考数据中", "The unit is not in the reference data"),
    "staff_id_present": ("缺少工号", "The staff id is missing"),
    "role_known": ("岗位未知", "Unknown role"),
    "origin_known": ("人员来源未知", "Unknown staff origin"),
    "payer_known": ("付薪方未知", "Unknown payer"),
    "cost_parseable": ("人员经费无法解析", "The staff cost cannot be parsed"),
    "cost_not_negative": ("人员经费为负数", "The staff cost is negative"),
    "cost_max_2_decimals": ("人员经费超过两位小数", "The staff cost has more than 2 decimals"),
    "cost_plausible": ("人员经费超出合理范围", "The staff cost is beyond the plausible range"),
    "meter_known": ("表计不在参考数据中", "The meter is not in the reference data"),
    "read_at_parseable": ("抄表时间无法解析", "The reading time cannot be parsed"),
    "read_at_in_file_day": ("抄表时间不在文件日期内", "The reading time is not on the file's day"),
    "reading_parseable": ("读数无法解析", "The reading cannot be parsed"),
    "reading_plausible": ("读数超出合理范围", "The reading is beyond the plausible range"),
    "status_known": ("状态未知", "Unknown status"),
    "negative_delta": ("读数比上次小(表计倒走)", "The reading is below the previous one"),
    "hundredfold_jump": ("用量比平常大百倍(疑似小数点错误)", "Use jumps a hundredfold (a misplaced decimal point?)"),
    "order_id_present": ("缺少工单号", "The work order id is missing"),
    "category_known": ("报修类别未知", "Unknown repair category"),
    "created_at_valid": ("报修时间无效", "The creation time is invalid"),
    "dispatched_at_valid": ("派单时间无效", "The dispatch time is invalid"),
    "arrived_at_valid": ("到场时间无效", "The arrival time is invalid"),
    "completed_at_valid": ("完工时间无效", "The completion time is invalid"),
    "updated_at_valid": ("更新时间无效", "The update time is invalid"),
    "dispatched_not_before_created": ("派单时间早于报修时间", "Dispatched before it was created"),
    "arrived_not_before_created": ("到场时间早于报修时间", "Arrived before it was created"),
    "completed_not_before_created": ("完工时间早于报修时间", "Completed before it was created"),
    "completed_has_completed_at": ("已完工工单缺少完工时间", "A completed order has no completion time"),
    "times_not_after_file_day": ("时间晚于文件日期", "A time is after the file's day"),
    "updated_at_not_after_file_day": ("更新时间晚于文件日期", "The update time is after the file's day"),
    "times_within_ticket_age": ("时间超出工单允许的时长", "A time is beyond the order's allowed age"),
    "rating_integer": ("评分不是整数", "The rating is not an integer"),
    "rating_in_range": ("评分超出范围", "The rating is out of range"),
    "reopened_boolean": ("是否返修不是是/否", "The reopened flag is not yes/no"),
    "response_no_present": ("缺少答卷编号", "The response number is missing"),
    "submitted_at_valid": ("提交时间无效", "The submission time is invalid"),
    "submitted_at_near_wave": ("提交时间离调查批次太远", "Submitted too far from the survey wave"),
    "answer_on_scale": ("回答不在量表上", "The answer is not on the scale"),
    # duplicates (collapsed or quarantined)
    "duplicate_collapsed": ("完全相同的重复行，已合并", "Exact duplicate row, collapsed"),
    "duplicate_id_conflict": ("同一编号内容不同", "The same id with different content"),
    "duplicate_reading_conflict": ("同一表计同一时间读数不同", "The same meter and time with different readings"),
    "duplicate_response_conflict": ("同一答卷内容不同", "The same response with different answers"),
    # runs
    "range_dates_valid": ("日期不是 YYYY-MM-DD", "A date is not YYYY-MM-DD"),
    "range_order": ("结束日期早于开始日期", "The end date is before the start date"),
    "range_calendar": ("日期超出参考日历", "A date is outside the reference calendar"),
    "range_max_days": ("运行的天数超过上限", "The run spans more days than allowed"),
    "landing_allowed": ("落地目录不在允许范围内", "The landing directory is not an allowed one"),
    # file warnings
    "same_content_as_other_file": ("与另一文件内容相同", "Same content as another file"),
    "unexpected_file_name": ("文件名不符合约定，未读取", "A file name the feed does not expect: not read"),
}

# Rule ids built from a field name (reference files: ``<column>_valid``).
SUFFIXES: dict[str, tuple[str, str]] = {
    "_valid": ("字段 {field} 的值无效", "The value of field {field} is invalid"),
}


def explain(rule: str) -> tuple[str, str] | None:
    """(中文, English) for one rule id, None for an id the catalog does not know."""
    if rule in RULES:
        return RULES[rule]
    for suffix, (zh, en) in SUFFIXES.items():
        if rule.endswith(suffix) and len(rule) > len(suffix):
            field = rule[: -len(suffix)]
            return zh.format(field=field), en.format(field=field)
    return None


def explain_all(rules: str) -> list[tuple[str, str, str]]:
    """(id, 中文, English) for a recorded rule value: one id or a comma-separated list of ids."""
    out = []
    for rule in (r.strip() for r in rules.split(",")):
        if rule:
            zh, en = explain(rule) or ("未登记的规则", "A rule the catalog does not list")
            out.append((rule, zh, en))
    return out
