"""Strategies shared by the bad-input tests: mutations of valid messages at the byte and at the tree level,
and a memory probe.

Pure random bytes rarely get past a decoder's first check, so most strategies start from a valid message and
break one thing at a time: a flipped bit, a cut, a field of the wrong kind, a length that claims too much.
"""

from __future__ import annotations

import copy
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

# Bytes that mean something in most binary formats: zero, the varint continuation bit, all ones, and the
# borders of MessagePack's fixed types.
INTERESTING_BYTES = st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0x81, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
                                     0xC2, 0xC3, 0xCB, 0xCF, 0xD3, 0xD9, 0xDB, 0xDD, 0xDF, 0xFE, 0xFF])
_OPS = ("flip", "set", "truncate", "delete", "insert", "duplicate", "append")


@st.composite
def mutated_bytes(draw: st.DrawFn, valid: bytes | st.SearchStrategy[bytes],
                  chunks: Sequence[bytes] = (), max_ops: int = 4) -> bytes:
    """``valid`` after 1..``max_ops`` byte edits; inserted material comes from ``chunks`` or is random."""
    data = bytearray(draw(valid) if isinstance(valid, st.SearchStrategy) else valid)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(_OPS))
        n = len(data)
        at = draw(st.integers(0, n))
        if op == "flip" and at < n:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and at < n:
            data[at] = draw(st.one_of(INTERESTING_BYTES, st.integers(0, 255)))
        elif op == "truncate":
            del data[at:]
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op in ("insert", "append"):
            piece = draw(st.sampled_from(chunks)) if chunks and draw(st.booleans()) else draw(st.binary(max_size=16))
            data[n if op == "append" else at:n if op == "append" else at] = piece
        elif op == "duplicate" and n:
            start = draw(st.integers(0, n - 1))
            data[at:at] = data[start:start + draw(st.integers(1, 64))]
    return bytes(data)


def slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``tree``, parents before children."""
    out: list[tuple[Any, Any]] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            out.append((node, key))
            todo.append(child)
    return out


_TREE_OPS = ("replace", "replace", "replace", "delete", "add", "wrap", "stringify", "repeat", "nest")


@st.composite
def mutated_tree(draw: st.DrawFn, valid: Any, leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[Any],
                 max_ops: int = 3, max_nesting: int = 1000) -> Any:
    """A deep copy of ``valid`` (dicts, lists, scalars) with 1..``max_ops`` structural edits: a value replaced
    by a leaf, a key deleted or added, a value wrapped in a list or turned into text, a list made long, a
    value nested up to ``max_nesting`` deep (encoders have their own limits)."""
    tree = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, max_ops))):
        found = slots(tree)
        op = draw(st.sampled_from(_TREE_OPS))
        if op == "add" or not found:
            targets = [tree, *(c[k] for c, k in found if isinstance(c[k], dict | list))]
            target = draw(st.sampled_from(targets)) if isinstance(tree, dict | list) else None
            if isinstance(target, dict):
                target[draw(keys)] = draw(leaves)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(leaves))
            continue
        container, key = draw(st.sampled_from(found))
        value = container[key]
        if op == "replace":
            container[key] = draw(leaves)
        elif op == "delete":
            del container[key]
        elif op == "wrap":
            container[key] = [value] if draw(st.booleans()) else {draw(keys): value}
        elif op == "stringify":
            container[key] = _text_of(value)
        elif op == "repeat":
            # The copies share one object: a second repeat inside it would multiply the sizes, so it is the last.
            container[key] = [value] * draw(st.sampled_from([2, 100, 5000]))
            break
        elif op == "nest":
            for _ in range(draw(st.sampled_from([10, 200, max_nesting]))):
                value = [value]
            container[key] = value
    return tree


def _text_of(value: Any) -> str:
    try:
        return str(value)[:200]
    except RecursionError:  # a value nested deeper than repr goes
        return "[[["


def peak_memory(fn: Callable[[], object]) -> tuple[int, BaseException | None]:
    """Peak bytes allocated by Python while ``fn`` runs, and what it raised (None when it returned)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    error: BaseException | None = None
    try:
        fn()
    except Exception as err:  # the caller judges which errors are allowed
        error = err
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return peak, error
