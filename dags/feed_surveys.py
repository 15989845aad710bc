"""Airflow DAG: satisfaction survey waves (xlsx) → validated → warehouse (thin file)."""

from campus_logistics.dag_factory import feed_dag

dag = feed_dag(
    "surveys",
    description="满意度测评 Satisfaction surveys: per wave → checked → warehouse",
    doc_md="""
### Satisfaction survey waves (满意度测评)
Runs daily and loads every `surveys/survey_YYYYMMDD.xlsx` whose wave date (the date in the file
name) falls in the run's data interval, or in the `start`–`end` days given when triggered by hand.
The sheet's header must be 序号, 提交答卷时间, 身份 and one column per unit headed with its
`name_zh` from `ref/sub_centres.csv` (an unknown or duplicated column fails the file, naming the
column). A respondent row with an answer off the five-point scale is quarantined with the cell
named. Answers land long-format in `core.survey_answer`; the `kpi` DAG then recomputes the wave's
and the year's satisfaction KPIs.
""",
)
