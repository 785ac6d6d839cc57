"""parse_bar's two paths agree: the job's fast byte scanner (BarScanner) accepts only bars the tree checks
accept, with the same values, and both agree with the app's reader (``schema.decode_bar``).

Runs the job's own functions jar (``ParseBar.main``) over a corpus of messages: bars as the producer
writes them, with awkward numbers, reordered and duplicated keys, whitespace, escapes and unknown fields,
and thousands of random byte-level mutations of them.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess

import pytest

from backend.bus import schema
from backend.model import Bar
from stack.local import PrepareMissing, cache_dir
from stack.local.flink import artefacts, venv_dir

pytestmark = pytest.mark.integration

AWKWARD_NUMBERS = [0.1, 100.05, 99.95, 1e-7, 5e-324, 1.7976931348623157e308, 123456789012345678.0, 1e22, 1e23,
                   9007199254740993.0, 0.30000000000000004, 2.2250738585072014e-308, 1234.5678e10, 0.0, 17.0]


def _classpath() -> str:
    try:
        jars = artefacts().jars
    except PrepareMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    flink_lib = sorted(venv_dir(cache_dir()).glob("lib/python*/site-packages/pyflink/lib/*.jar"))
    return ":".join(str(jar) for jar in (*jars, *flink_lib))


def _both_paths(messages: list[str]) -> list[dict]:
    java = shutil.which("java")
    assert java is not None, "java is not on PATH"
    result = subprocess.run([java, "-cp", _classpath(), "tickerwire.flink.ParseBar"], input="\n".join(messages),
                            capture_output=True, text=True, timeout=300, check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


def _bar(rng: random.Random) -> Bar:
    number = lambda: rng.choice(AWKWARD_NUMBERS) if rng.random() < 0.3 else round(rng.uniform(0, 500), rng.randint(0, 6))
    return Bar(rng.choice(["A", "AM"]), rng.choice(["AAPL", "BRK.B", "X", "SPY"]), rng.randint(0, 2**53),
               rng.randint(0, 2**53), number(), number(), number(), number(), number(), number(), number(),
               number(), number(), number(), rng.random() < 0.5)


def _variants(payload: str, rng: random.Random) -> list[str]:
    """The same record written differently, and near misses."""
    record = json.loads(payload)
    items = list(record.items())
    rng.shuffle(items)
    shuffled = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in items) + "}"
    return [
        payload,
        shuffled,
        json.dumps(record, indent=None, separators=(" , ", " : ")),
        "\t" + payload.replace(",", ",\t ").replace(":", " :") + "  ",
        payload[:-1] + ',"extra":{"nested":1}}',
        payload[:-1] + ',"extra":[1,2]}',
        payload[:-1] + ',"note":"caf\u00e9","t":null,"flag":true,"n":-0.5e-3}',
        payload[:-1] + ',"sym":"\\u0041BC"}',
        payload[:-1] + ',"o":1E2}',
        payload[:-1] + ',"o":-0}',
        payload[:-1] + ',"v":-1}',
        payload[:-1] + ',"s":1.0}',
        payload[:-1] + ',"s":12345678901234567890}',
        payload[:-1] + ',"o":01}',
        payload[:-1] + ',"o":1.}',
        payload[:-1] + ',"o":.5}',
        payload[:-1] + ',"o":1e}',
        payload[:-1] + ',"o":1e400}',
        payload[:-1] + ',"o":0.00000000000000000000000001}',
        payload[:-1] + ',"vw":1234567890.12345678901234567890}',
        payload[:-1] + ',"otc":null}',
        payload[:-1] + ',"ev":"AMX"}',
        payload[:-1] + ',"version":1.0}',
        payload[:-1] + ',}',
        payload + "x",
    ]


def _mutations(payload: str, rng: random.Random, count: int) -> list[str]:
    alphabet = '{}[]",:0123456789.-+eE tfnrul\\aA'
    out = []
    for _ in range(count):
        chars = list(payload)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(chars))
            kind = rng.random()
            if kind < 0.4:
                chars[i] = rng.choice(alphabet)
            elif kind < 0.7:
                del chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
        out.append("".join(chars))
    return out


def _same(java: list, bar: Bar) -> bool:
    expected = [bar.ev, bar.symbol, bar.start_ms, bar.end_ms, bar.open, bar.high, bar.low, bar.close, bar.volume,
                bar.vwap, bar.avg_trade_size, None]
    return all(_identical(a, b) for a, b in zip(java, expected, strict=True))


def _identical(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return float(a) == float(b) and math.copysign(1, float(a)) == math.copysign(1, float(b))
    return a == b


def test_the_fast_path_accepts_only_what_the_tree_accepts_with_the_same_values():
    rng = random.Random(20261128)
    messages = []
    for _ in range(300):
        payload = schema.encode_bar(_bar(rng)).decode()
        messages += _variants(payload, rng) + _mutations(payload, rng, 40)
    messages = [m for m in messages if "\n" not in m and "\r" not in m]  # one message per line
    results = _both_paths(messages)
    assert len(results) == len(messages)

    fast_taken = 0
    for message, result in zip(messages, results, strict=True):
        fast, tree = result["fast"], result["tree"]
        if fast is not None:
            fast_taken += 1
            assert tree[11] is None, f"fast path accepted what the tree rejects ({tree[11]}): {message}"
            assert all(_identical(a, b) for a, b in zip(fast, tree, strict=True)), (message, fast, tree)
        try:
            bar = schema.decode_bar(message)
        except schema.SchemaError as exc:
            assert tree[11] is not None, f"the job accepts what the app rejects ({exc}): {message}"
        else:
            row = fast if fast is not None else tree
            assert _same(row, bar), (message, row, bar)
    assert fast_taken >= 300 * 4, "the fast path must take the plain bars and their reorderings"
