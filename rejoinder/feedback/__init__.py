"""User reactions to served responses: the record a server logs, and where its segments live.

The server appends (modelserver), compaction turns segments into reranker training data, the
operator reads per-version counters for a canary: all three agree on the record defined here.
"""
