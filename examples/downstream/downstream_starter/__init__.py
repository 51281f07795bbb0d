"""A starter consumer of the suite's order and inventory events, for downstream teams.

It keeps a table of orders (last status, total, and the lots and trace codes of their lines)
in SQLite, and shows the rules every consumer of the suite follows: decode through the
contract's registry (upcasting older versions), read one record per event published in
several versions, deduplicate on the event id, keep per-key order, ignore what it does not
know.
"""
