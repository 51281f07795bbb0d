"""The KPI formulas as pure functions over plain values (docs/kpis.md), the reporting period
and its buckets, money in the reporting currency. No database, no network, no framework."""
