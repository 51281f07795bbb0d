"""Use cases: `projection` writes the facts of each event (set-based upserts in the poll's
transaction), `reports` reads a period's facts and computes the KPIs, `export` renders CSV."""
