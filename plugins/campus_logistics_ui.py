"""Airflow UI plugin: the "Reform KPIs" and "Data quality" pages and the Data Docs, and Airflow's UI
in Shanghai time (code in campus_logistics.ui)."""

from airflow.plugins_manager import AirflowPlugin

from campus_logistics.ui import timezone
from campus_logistics.ui.app import URL_PREFIX, app


class CampusLogisticsUIPlugin(AirflowPlugin):
    name = "campus_logistics_ui"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Campus logistics reform pages"},
                    {"app": timezone.app, "url_prefix": timezone.URL_PREFIX, "name": "Airflow UI in Shanghai time"}]
    # Airflow 3 has no server setting for the UI's time zone: this sets Asia/Shanghai in the browser.
    react_apps = [timezone.REACT_APP]
    # Menu entries in Chinese for the logistics office, English beside them for everyone else.
    external_views = [
        {"name": "改革指标 Reform KPIs", "href": f"{URL_PREFIX}/", "url_route": "reform-kpis", "destination": "nav",
         "category": "browse"},
        {"name": "数据质量 Data quality", "href": f"{URL_PREFIX}/quality", "url_route": "data-quality",
         "destination": "nav", "category": "browse"},
        {"name": "数据文档 Data Docs (GX)", "href": f"{URL_PREFIX}/data-docs/", "url_route": "data-docs",
         "destination": "nav", "category": "browse"},
    ]
