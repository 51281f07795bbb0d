"""`make docs`: the documents generated from the code (AsyncAPI files, the event catalog)."""
