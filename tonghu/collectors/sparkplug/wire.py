"""Protocol Buffers wire format: the few primitives a Sparkplug B payload needs, with strict bounds.

Reference: https://protobuf.dev/programming-guides/encoding/ . Every read checks the bytes that are left,
so malformed or hostile input ends in one ``PayloadError`` — never an IndexError, a loop that does not
advance, or an allocation larger than the input.
"""

from __future__ import annotations

import struct

from tonghu.common.errors import PayloadError

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
MAX_FIELD = (1 << 29) - 1
# Deprecated groups may still appear in unknown fields; nesting beyond this is an attack, not data.
MAX_GROUP_DEPTH = 16

_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_WIRE_NAMES = ("varint", "i64", "len", "sgroup", "egroup", "i32")


class Reader:
    """Reads one message: the bytes ``buf[start:end]``."""

    __slots__ = ("_buf", "_end", "_pos")

    def __init__(self, buf: memoryview, start: int = 0, end: int | None = None) -> None:
        self._buf = buf
        self._pos = start
        self._end = len(buf) if end is None else end

    def more(self) -> bool:
        return self._pos < self._end

    def key(self) -> tuple[int, int]:
        """The next field number and wire type."""
        at = self._pos
        k = self._varint()
        number, wire = k >> 3, k & 7
        if not 0 < number <= MAX_FIELD:
            raise PayloadError("bad_field", f"field number {number} at byte {at} is outside 1..{MAX_FIELD}")
        if wire > I32:
            raise PayloadError("bad_wire_type", f"wire type {wire} at byte {at} does not exist")
        return number, wire

    # Each typed read takes the wire type found in the key: a known field with the wrong wire type is
    # rejected rather than skipped, because it means the sender does not speak this schema.

    def uint(self, wire: int) -> int:
        self._expect(wire, VARINT)
        return self._varint()

    def f32(self, wire: int) -> float:
        self._expect(wire, I32)
        return _F32.unpack_from(self._buf, self._take(4))[0]

    def f64(self, wire: int) -> float:
        self._expect(wire, I64)
        return _F64.unpack_from(self._buf, self._take(8))[0]

    def text(self, wire: int) -> str:
        start, end = self._span(wire)
        try:
            return str(self._buf[start:end], "utf-8")
        except UnicodeDecodeError as err:
            raise PayloadError("bad_utf8", f"string at byte {start} is not UTF-8 ({err.reason})") from None

    def blob(self, wire: int) -> bytes:
        start, end = self._span(wire)
        return bytes(self._buf[start:end])

    def sub(self, wire: int) -> Reader:
        """A reader over an embedded message, sharing the buffer (no copy)."""
        start, end = self._span(wire)
        return Reader(self._buf, start, end)

    def skip(self, number: int, wire: int, depth: int = 0) -> None:
        """Step over a field this decoder does not use (extensions, metadata, newer fields)."""
        if wire == VARINT:
            self._varint()
        elif wire == I64:
            self._take(8)
        elif wire == I32:
            self._take(4)
        elif wire == LEN:
            self._span(wire)
        elif wire == SGROUP:
            if depth >= MAX_GROUP_DEPTH:
                raise PayloadError("too_deep", f"groups nested deeper than {MAX_GROUP_DEPTH}")
            while True:
                if not self.more():
                    raise PayloadError("truncated", f"group {number} has no end")
                inner, inner_wire = self.key()
                if inner_wire == EGROUP:
                    if inner != number:
                        raise PayloadError("bad_group", f"group {number} closed by end of group {inner}")
                    return
                self.skip(inner, inner_wire, depth + 1)
        else:
            raise PayloadError("bad_group", f"end of group {number} without a start")

    def _expect(self, wire: int, wanted: int) -> None:
        if wire != wanted:
            raise PayloadError("bad_wire_type", f"wire type {_WIRE_NAMES[wire]} where {_WIRE_NAMES[wanted]} "
                                                f"was expected (byte {self._pos})")

    def _take(self, n: int) -> int:
        at = self._pos
        if n > self._end - at:
            raise PayloadError("truncated", f"{n} bytes needed at byte {at}, {self._end - at} left")
        self._pos = at + n
        return at

    def _span(self, wire: int) -> tuple[int, int]:
        self._expect(wire, LEN)
        n = self._varint()
        # The length is checked against what is left before anything is sliced or allocated.
        if n > self._end - self._pos:
            raise PayloadError("bad_length", f"length {n} at byte {self._pos} exceeds the "
                                             f"{self._end - self._pos} bytes left")
        start = self._pos
        self._pos = start + n
        return start, start + n

    def _varint(self) -> int:
        buf, pos, end = self._buf, self._pos, self._end
        if pos < end and buf[pos] < 0x80:  # most keys, aliases and small values are one byte
            self._pos = pos + 1
            return buf[pos]
        result = shift = 0
        while True:
            if pos >= end:
                raise PayloadError("truncated", f"varint at byte {self._pos} runs past the end")
            byte = buf[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift >= 70:
                raise PayloadError("bad_varint", f"varint at byte {self._pos} is longer than 10 bytes")
        if result >> 64:
            raise PayloadError("bad_varint", f"varint at byte {self._pos} exceeds 64 bits")
        self._pos = pos
        return result


class Writer:
    """Builds one message; fields are written in the order the caller gives (field-number order)."""

    __slots__ = ("_out",)

    def __init__(self) -> None:
        self._out = bytearray()

    def uint(self, number: int, value: int) -> None:
        self._key(number, VARINT)
        self._varint(value)

    def flag(self, number: int, value: bool) -> None:
        self.uint(number, 1 if value else 0)

    def f32(self, number: int, value: float) -> None:
        self._key(number, I32)
        self._out += _F32.pack(value)

    def f64(self, number: int, value: float) -> None:
        self._key(number, I64)
        self._out += _F64.pack(value)

    def text(self, number: int, value: str) -> None:
        self.blob(number, value.encode("utf-8"))

    def blob(self, number: int, value: bytes | bytearray) -> None:
        self._key(number, LEN)
        self._varint(len(value))
        self._out += value

    def getvalue(self) -> bytes:
        return bytes(self._out)

    def _key(self, number: int, wire: int) -> None:
        self._varint(number << 3 | wire)

    def _varint(self, value: int) -> None:
        if not 0 <= value < 1 << 64:
            raise ValueError(f"{value} does not fit an unsigned 64-bit varint")
        out = self._out
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)
