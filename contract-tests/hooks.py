"""schemathesis hooks for contract-tests/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

One generator quirk is mended here, nothing else: for `format: date-time` schemathesis
can draw a calendar day its month does not have ("0978-09-31T…", "2023-02-29T…").
RFC 3339 §5.7 makes such a value invalid, so the server's 400 for it is right, yet the
positive-data check would count it as valid data rejected. The hooks move such a day to
the month's last day; every other drawn value goes out unchanged.
"""

import calendar
import re

import schemathesis

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})([Tt ].*)$")


def _real_day(value):
    if not isinstance(value, str):
        return value
    m = _DATE.match(value)
    if not m:
        return value
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= month <= 12 or year < 1:
        return value
    last = calendar.monthrange(year, month)[1]
    if day <= last:
        return value
    return f"{m.group(1)}-{m.group(2)}-{last:02d}{m.group(4)}"


def _walk(value):
    if isinstance(value, dict):
        return {k: _walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]
    return _real_day(value)


@schemathesis.hook
def map_query(context, query):
    return _walk(query) if query else query


@schemathesis.hook
def map_body(context, body):
    return _walk(body)
