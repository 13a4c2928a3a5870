"""Business operations: the only code that changes state.

Each service takes plain values and an explicit ``actor``, validates, mutates, writes
an audit event and flushes. The caller (view, API handler, job, CLI) commits once.
"""
