"""Sparkplug B payloads from an independent implementation (PyPI pysparkplug) for the edge's
conformance matrix: one NBIRTH defining every scalar datatype (with aliases), then NDATA
messages carrying each datatype's extreme values in the three encodings a node may use:
alias only, named without a datatype (what the spec recommends for DATA), named with one.

Prints one JSON object: {"messages": [[topic, hex payload], ...], "expected": [[tag, value]],
"refused": [tag, ...]}, where value is the record value the edge must store ({"int": n},
{"uint": n}, {"float": x}, {"bool": b}, {"text": s}), in publication order per tag, and refused
are metrics of kinds the edge does not store (it must say so, not drop them silently).
"""

import datetime
import json
import math
import struct
import sys

from pysparkplug import DataType, Metric, NBirth, NData

GROUP, NODE = "conf", "n1"
T0 = 1_800_000_000_000


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# name, datatype, extreme values, how the edge stores them
CASES = [
    ("i8", DataType.INT8, [-128, -1, 0, 127], "int"),
    ("i16", DataType.INT16, [-32768, -1, 32767], "int"),
    ("i32", DataType.INT32, [-(2**31), -1, 2**31 - 1], "int"),
    ("i64", DataType.INT64, [-(2**63), -1, 2**63 - 1], "int"),
    ("u8", DataType.UINT8, [0, 255], "int"),
    ("u16", DataType.UINT16, [0, 65535], "int"),
    ("u32", DataType.UINT32, [0, 2**32 - 1], "int"),
    ("u64", DataType.UINT64, [0, 2**63 - 1, 2**63, 2**64 - 1], "uint"),
    ("f32", DataType.FLOAT, [f32(3.4028234663852886e38), f32(-1.5), f32(1.401298464324817e-45), math.inf], "float"),
    ("f64", DataType.DOUBLE, [1.7976931348623157e308, -0.0, 5e-324, math.nan, math.inf, -math.inf], "float"),
    ("bool", DataType.BOOLEAN, [True, False], "bool"),
    ("str", DataType.STRING, ["", "Grüße, 日本"], "text"),
    ("text", DataType.TEXT, ["line\nbreak"], "text"),
    ("dt", DataType.DATETIME, [0, T0], "int"),
]

# Kinds the edge does not store yet: refused visibly.
REFUSED = [
    ("bytes", DataType.BYTES, b"\x00\x01\xff"),
    ("i32arr", DataType.INT32_ARRAY, [1, -2, 3]),
]


def stored(kind, v):
    """The value as the edge's JSON spells it (JSON has no NaN or infinities)."""
    if kind == "float" and not math.isfinite(v):
        return {kind: "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")}
    return {kind: v}


def sent(dt, v):
    """The value as pysparkplug takes it (DateTime: a datetime, stored as Unix ms)."""
    if dt == DataType.DATETIME:
        return datetime.datetime.fromtimestamp(v / 1000, tz=datetime.timezone.utc)
    return v


def main():
    topic = lambda kind: f"spBv1.0/{GROUP}/{kind}/{NODE}"
    messages, expected = [], []
    seq = 0
    birth = NBirth(
        timestamp=T0,
        seq=seq,
        metrics=tuple(
            Metric(timestamp=T0, name=name, datatype=dt, value=sent(dt, values[0]), alias=i + 1)
            for i, (name, dt, values, _) in enumerate(CASES)
        )
        + tuple(
            Metric(timestamp=T0, name=name, datatype=dt, value=v)
            for name, dt, v in REFUSED
        )
        + (Metric(timestamp=T0, name="bdSeq", datatype=DataType.INT64, value=0),),
    )
    messages.append((topic("NBIRTH"), birth.encode().hex()))
    for i, (name, _, values, kind) in enumerate(CASES):
        expected.append((f"{GROUP}/{NODE}/{name}", stored(kind, values[0])))
    for mode in ("alias", "named", "named_with_datatype"):
        for i, (name, dt, values, kind) in enumerate(CASES):
            for v in values:
                seq = (seq + 1) % 256
                m = Metric(
                    timestamp=T0 + seq,
                    name=None if mode == "alias" else name,
                    datatype=dt,
                    value=sent(dt, v),
                    alias=i + 1 if mode == "alias" else None,
                )
                data = NData(timestamp=T0 + seq, seq=seq, metrics=(m,))
                raw = data.encode(include_dtypes=mode == "named_with_datatype")
                messages.append((topic("NDATA"), raw.hex()))
                expected.append((f"{GROUP}/{NODE}/{name}", stored(kind, v)))
    refused = [f"{GROUP}/{NODE}/{name}" for name, _, _ in REFUSED]
    json.dump({"messages": messages, "expected": expected, "refused": refused}, sys.stdout)


if __name__ == "__main__":
    main()
