"""A decoder of the protobuf exposition for the tests: the page's
length-delimited MetricFamily messages as plain dicts, read from the wire
format by hand (the tests have no protobuf library) with the field numbers
of src/metrics.proto.

`families(body)` gives {name: family}; a family is {"name", "help",
"type", "metric": [...]}, a metric {"label": {name: value}, "histogram":
{...}, "counter": {...}, ...}. A field that is absent is absent from its
dict, so a test can tell "not sent" from 0. Repeated fields are lists.
`native_buckets(histogram)` turns the spans and deltas of a native
histogram into {bucket index: count}.
"""

from __future__ import annotations

import struct

# (field number) -> (name, kind, repeated). Kinds: a message's name, or
# "string", "uint", "sint", "int", "double", "enum".
TIMESTAMP = {1: ("seconds", "int", False), 2: ("nanos", "int", False)}
LABEL_PAIR = {1: ("name", "string", False), 2: ("value", "string", False)}
EXEMPLAR = {1: ("label", "LabelPair", True), 2: ("value", "double", False), 3: ("timestamp", "Timestamp", False)}
BUCKET = {1: ("cumulative_count", "uint", False), 4: ("cumulative_count_float", "double", False),
          2: ("upper_bound", "double", False), 3: ("exemplar", "Exemplar", False)}
BUCKET_SPAN = {1: ("offset", "sint", False), 2: ("length", "uint", False)}
HISTOGRAM = {1: ("sample_count", "uint", False), 4: ("sample_count_float", "double", False),
             2: ("sample_sum", "double", False), 3: ("bucket", "Bucket", True),
             15: ("created_timestamp", "Timestamp", False), 5: ("schema", "sint", False),
             6: ("zero_threshold", "double", False), 7: ("zero_count", "uint", False),
             8: ("zero_count_float", "double", False), 9: ("negative_span", "BucketSpan", True),
             10: ("negative_delta", "sint", True), 11: ("negative_count", "double", True),
             12: ("positive_span", "BucketSpan", True), 13: ("positive_delta", "sint", True),
             14: ("positive_count", "double", True), 16: ("exemplars", "Exemplar", True)}
COUNTER = {1: ("value", "double", False), 2: ("exemplar", "Exemplar", False),
           3: ("created_timestamp", "Timestamp", False)}
GAUGE = {1: ("value", "double", False)}
UNTYPED = {1: ("value", "double", False)}
QUANTILE = {1: ("quantile", "double", False), 2: ("value", "double", False)}
SUMMARY = {1: ("sample_count", "uint", False), 2: ("sample_sum", "double", False), 3: ("quantile", "Quantile", True),
           4: ("created_timestamp", "Timestamp", False)}
METRIC = {1: ("label", "LabelPair", True), 2: ("gauge", "Gauge", False), 3: ("counter", "Counter", False),
          4: ("summary", "Summary", False), 5: ("untyped", "Untyped", False), 7: ("histogram", "Histogram", False),
          6: ("timestamp_ms", "int", False)}
METRIC_FAMILY = {1: ("name", "string", False), 2: ("help", "string", False), 3: ("type", "enum", False),
                 4: ("metric", "Metric", True), 5: ("unit", "string", False)}
MESSAGES = {"Timestamp": TIMESTAMP, "LabelPair": LABEL_PAIR, "Exemplar": EXEMPLAR, "Bucket": BUCKET,
            "BucketSpan": BUCKET_SPAN, "Histogram": HISTOGRAM, "Counter": COUNTER, "Gauge": GAUGE,
            "Untyped": UNTYPED, "Quantile": QUANTILE, "Summary": SUMMARY, "Metric": METRIC,
            "MetricFamily": METRIC_FAMILY}
TYPES = {0: "counter", 1: "gauge", 2: "summary", 3: "untyped", 4: "histogram", 5: "gauge_histogram"}


def varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _signed(value: int) -> int:
    """A varint's two's complement reading (int32/int64)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _scalar(kind: str, value: int) -> int:
    if kind == "sint":
        return _zigzag(value)
    if kind == "int":
        return _signed(value)
    return value  # uint, enum


def decode(data: bytes, message: str) -> dict:
    """One message of type `message` from its bytes."""
    fields = MESSAGES[message]
    out: dict = {}
    at = 0
    while at < len(data):
        key, at = varint(data, at)
        number, wire = key >> 3, key & 7
        assert number in fields, f"{message} has no field {number}"
        name, kind, repeated = fields[number]
        values: list = []
        if wire == 0:
            raw, at = varint(data, at)
            values.append(_scalar(kind, raw))
        elif wire == 1:
            assert kind == "double", (message, name, wire)
            values.append(struct.unpack_from("<d", data, at)[0])
            at += 8
        elif wire == 2:
            size, at = varint(data, at)
            chunk = data[at:at + size]
            assert len(chunk) == size, f"{message}.{name} runs past its message"
            at += size
            if kind == "string":
                values.append(chunk.decode())
            elif kind in MESSAGES:
                values.append(decode(chunk, kind))
            elif kind == "double":  # packed
                assert repeated and size % 8 == 0, (message, name)
                values.extend(struct.unpack(f"<{size // 8}d", chunk))
            else:  # packed varints
                assert repeated, (message, name)
                i = 0
                while i < len(chunk):
                    raw, i = varint(chunk, i)
                    values.append(_scalar(kind, raw))
        else:
            raise AssertionError(f"{message}.{name}: wire type {wire}")
        if repeated:
            out.setdefault(name, []).extend(values)
        else:
            assert name not in out, f"{message}.{name} twice"
            out[name] = values[0]
    return out


def _labels(pairs: list) -> dict:
    return {p["name"]: p.get("value", "") for p in pairs}


def _tidy(metric: dict) -> dict:
    """Labels as a dict, exemplars' labels too."""
    metric = dict(metric)
    metric["label"] = _labels(metric.get("label", []))
    h = metric.get("histogram")
    if h is not None:
        for b in h.get("bucket", []):
            if "exemplar" in b:
                b["exemplar"]["label"] = _labels(b["exemplar"].get("label", []))
        for e in h.get("exemplars", []):
            e["label"] = _labels(e.get("label", []))
    return metric


def delimited(body: bytes) -> list[bytes]:
    """The messages of a length-delimited body, which they fill exactly."""
    out, at = [], 0
    while at < len(body):
        size, at = varint(body, at)
        out.append(body[at:at + size])
        assert len(out[-1]) == size, "a message runs past the body"
        at += size
    return out


def families(body: bytes) -> dict[str, dict]:
    """{name: family} of a protobuf page, in page order."""
    out = {}
    for message in delimited(body):
        f = decode(message, "MetricFamily")
        f["type"] = TYPES[f.get("type", 0)]
        f["metric"] = [_tidy(m) for m in f.get("metric", [])]
        assert f["name"] not in out, f"family {f['name']} twice"
        out[f["name"]] = f
    return out


def metric(family: dict, **labels) -> dict:
    """The one metric of `family` whose labels are exactly `labels`."""
    found = [m for m in family["metric"] if m["label"] == labels]
    assert len(found) == 1, f"{family['name']}{labels}: {len(found)} metrics"
    return found[0]


def native_buckets(h: dict, sign: str = "positive") -> dict[int, int]:
    """{bucket index: count} of a native histogram's positive (or negative)
    buckets: spans place runs of buckets (offset from the end of the
    previous run, the first from index 0), deltas give each count as the
    difference from the previous bucket's."""
    spans = h.get(f"{sign}_span", [])
    deltas = h.get(f"{sign}_delta", [])
    assert sum(s.get("length", 0) for s in spans) == len(deltas), "spans and deltas disagree"
    out, index, count, i = {}, 0, 0, 0
    for span in spans:
        index += span.get("offset", 0)
        for _ in range(span.get("length", 0)):
            count += deltas[i]
            assert count >= 0, f"a negative bucket count at {index}"
            if count:
                out[index] = count
            index += 1
            i += 1
    return out


def is_native(h: dict) -> bool:
    """Whether a Histogram message carries a native histogram (Prometheus's
    test: a schema, a zero threshold, a zero count or spans)."""
    return any(k in h for k in ("schema", "zero_threshold", "zero_count", "zero_count_float", "positive_span",
                                "negative_span"))
