"""Attribute values become strings exactly as the Collector's
`pcommon.Value.AsString` makes them (and so as the ClickHouse exporter stores
them), so that `SpanAttributes['k'] = '...'` queries carry over.

One daemon serves every case: a single span carries one attribute per case.
"""

from __future__ import annotations

import base64

import pytest

from support import Sluice, any_value

# (attribute key, value sent, string the Collector stores)
CASES = [
    ("str", "plain", "plain"),
    ("int", 42, "42"),
    ("int.negative", -7, "-7"),
    ("int.max", 2**63 - 1, "9223372036854775807"),
    ("double", 0.1, "0.1"),
    ("double.whole", 3.0, "3"),
    ("double.negative", -2.5, "-2.5"),
    ("double.large", 123456789.125, "123456789.125"),
    ("bool.true", True, "true"),
    ("bool.false", False, "false"),
    ("bytes", b"\x00\x01\xfe", base64.b64encode(b"\x00\x01\xfe").decode()),
    ("array", ["a", 1, True, 2.5], '["a",1,true,2.5]'),
    ("array.empty", [], "[]"),
    ("array.nested", [[1, 2], {"k": "v"}], '[[1,2],{"k":"v"}]'),
    ("map", {"a": "x", "b": 1}, '{"a":"x","b":1}'),
    ("string.quotes", 'say "hi"\n', 'say "hi"\n'),
    ("array.escapes", ['say "hi"\n'], '["say \\"hi\\"\\n"]'),
    # encoding/json sorts map keys and escapes HTML-sensitive characters.
    ("map.unsorted", {"b": 1, "a": "x"}, '{"a":"x","b":1}'),
    ("array.html", ["<a&b>"], '["\\u003ca\\u0026b\\u003e"]'),
    # Doubles use ES6 number formatting: exponent below 1e-6 and from 1e21.
    ("double.tiny", 1e-7, "1e-7"),
    ("double.small", 1.5e-10, "1.5e-10"),
    ("double.huge", 1e21, "1e+21"),
    ("double.below.huge", 1e20, "100000000000000000000"),
]


def case_id(case) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.fixture(scope="module")
def stored_attributes(tmp_path_factory) -> dict[str, str]:
    sluice = Sluice.start(tmp_path_factory.mktemp("attributes"))
    try:
        attributes = []
        for case in CASES:
            key, value, _ = case.values if hasattr(case, "values") else case
            attributes.append({"key": key, "value": any_value(value)})
        attributes.append({"key": "empty", "value": {}})
        span = {
            "traceId": "0123456789abcdef0123456789abcdef",
            "spanId": "0123456789abcdef",
            "name": "attributes",
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000000000001",
            "attributes": attributes,
        }
        payload = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [span]}]}]}
        response = sluice.post_json("/v1/traces", payload)
        assert response.status == 200, response.body
        sluice.stop()
        rows = sluice.duckdb("SELECT SpanAttributes FROM t", "otel_traces")
        assert len(rows) == 1, rows
        return rows[0]["SpanAttributes"]
    finally:
        sluice.kill()


@pytest.mark.parametrize(("key", "value", "expected"), CASES, ids=[case_id(c) for c in CASES])
def test_attribute_value_as_string(stored_attributes, key, value, expected):
    assert stored_attributes[key] == expected


def test_attribute_without_a_value_is_an_empty_string(stored_attributes):
    assert stored_attributes["empty"] == ""
