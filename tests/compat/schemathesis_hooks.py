"""schemathesis hooks for test_console_openapi.py.

A live tail (`follow=true`) streams until its client leaves or an hour has
passed, by design; generated requests must not open one, or a single case
would hold the run for the tail's whole lifetime.
"""
import schemathesis


@schemathesis.hook
def filter_query(ctx, query):
    if not isinstance(query, dict):
        return True
    return str(query.get("follow", "")).lower() not in ("true", "1")
