"""Reports on the reform KPIs: charts, HTML pages (and, from the mart views, spreadsheets)."""
