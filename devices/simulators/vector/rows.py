"""JSON text of many rows at once, from numpy columns: the vectorised engine's serialiser.

A row is a sequence of parts — literal text, fixed-point numbers, texts chosen from a
table (timestamps, booleans) — laid out at fixed columns of one byte matrix.
Literal text is written once (a template row copied down), and each number is written
digit by digit for all rows at once, a few thousand rows at a time so that the matrix
stays in the processor's cache. A number is right-aligned in its column, the unused
width on its left filled with spaces, which JSON allows between tokens
(`"power_w":  830.5`): squeezing them out would cost more than writing the text.
Numbers have exactly `decimals` digits after the point (`230.0`, `12034.250`), so JSON
readers get the values of `round(x, decimals)`, as from the object simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CHUNK = 8192  # rows rendered together: a few hundred KB of text, within the cache
_SPACE, _ZERO, _POINT, _MINUS = 32, 48, 46, 45


@dataclass(frozen=True, slots=True)
class _Literal:
    text: bytes


@dataclass(frozen=True, slots=True)
class _Number:
    whole: npt.NDArray[np.signedinteger]  # the integer part of |x|, rounded at `decimals`
    fraction: npt.NDArray[np.int32]  # the `decimals` digits after the point, as an integer
    negative: npt.NDArray[np.bool_] | None
    decimals: int
    int_digits: int


@dataclass(frozen=True, slots=True)
class _Choice:
    index: npt.NDArray[np.intp]
    table: npt.NDArray[np.uint8]  # (choices, width), texts left-aligned, space-padded


_Part = _Literal | _Number | _Choice


class Rows:
    """The JSON lines of `n` rows, built part by part (each part: one value a row)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._parts: list[_Part] = []

    def literal(self, text: str) -> Rows:
        """The same text in every row (keys, braces): JSON text, written as given."""
        if self._parts and isinstance(self._parts[-1], _Literal):
            self._parts[-1] = _Literal(self._parts[-1].text + text.encode())
        else:
            self._parts.append(_Literal(text.encode()))
        return self

    def number(self, values: npt.ArrayLike, decimals: int = 0) -> Rows:
        """A finite number a row, written with `decimals` digits after the point."""
        array = np.asarray(values)
        self._check(array)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"numbers must be numeric, got {array.dtype}")
        if not 0 <= decimals <= 9:
            raise ValueError("from 0 to 9 decimals")
        scale = 10.0 ** decimals
        # In floats, exact below 2^53: an integer divided by the power of ten it is a multiple
        # of gives that integer exactly, so floor() never errs (and int64 division is slow).
        scaled = np.rint(array * scale) if array.dtype.kind == "f" else array * scale
        magnitude = np.abs(scaled)
        largest = float(magnitude.max(initial=0.0))
        if not largest < 2.0 ** 53:  # NaN fails too
            raise ValueError("JSON numbers must be finite (and below 2^53 in their last digit)")
        negative = scaled < 0
        if decimals:
            whole = np.floor(magnitude / scale)
            fraction = magnitude - whole * scale
        else:
            whole, fraction = magnitude, np.zeros(0)
        biggest = int(largest // scale)
        small = np.int32 if biggest < 2**31 else np.int64
        self._parts.append(_Number(whole.astype(small), fraction.astype(np.int32),
                                   negative if negative.any() else None, decimals,
                                   len(str(biggest))))
        return self

    def boolean(self, values: npt.ArrayLike) -> Rows:
        """`true` or `false` a row."""
        array = np.asarray(values, dtype=bool)
        self._check(array)
        return self.choice(array.astype(np.intp), ("false", "true"))

    def choice(self, index: npt.ArrayLike, texts: Sequence[str]) -> Rows:
        """One of `texts` a row, by index (e.g. timestamps, each written once in the table).
        Each text is a whole JSON value (a string with its quotes): spaces may pad it."""
        array = np.asarray(index, dtype=np.intp)
        self._check(array)
        encoded = [t.encode() for t in texts]
        width = max((len(t) for t in encoded), default=0)
        if width > 8:  # long texts are copied in whole 8-byte words, padded with spaces
            width += -width % 8
        table = np.full((max(1, len(encoded)), width), _SPACE, np.uint8)
        for i, t in enumerate(encoded):
            table[i, :len(t)] = np.frombuffer(t, np.uint8)
        self._parts.append(_Choice(array, table))
        return self

    def lines(self) -> list[bytes]:
        """Every row's text, one `bytes` each (ending with the spaces that pad it)."""
        if self.n == 0:
            return []
        matrix = self._matrix()
        # Rows as fixed-width byte strings, turned into `bytes` objects by numpy in one call
        # (no NUL in a row: numpy would strip trailing ones).
        return matrix.view(f"S{matrix.shape[1]}").ravel().tolist()  # type: ignore[no-any-return]

    def _matrix(self) -> npt.NDArray[np.uint8]:
        template, spans = self._layout()
        width = len(template)
        out = np.empty((self.n, width), np.uint8)
        words = out.view(np.uint64)  # rows and choices are 8-byte aligned: copied 8 at once
        template_words = template.view(np.uint64)
        tables = {id(part): part.table.view(np.uint64) if _aligned(part) else part.table
                  for part, _ in spans if isinstance(part, _Choice)}
        for lo in range(0, self.n, CHUNK):
            hi = min(self.n, lo + CHUNK)
            words[lo:hi] = template_words
            block = out[lo:hi]
            for part, at in spans:
                if isinstance(part, _Choice):
                    chosen = tables[id(part)][part.index[lo:hi]]
                    if _aligned(part):
                        for j in range(chosen.shape[1]):
                            words[lo:hi, at // 8 + j] = chosen[:, j]
                    else:
                        for j in range(chosen.shape[1]):
                            block[:, at + j] = chosen[:, j]
                else:
                    _write_number(block, at, part, lo, hi)
        return out

    def _layout(self) -> tuple[npt.NDArray[np.uint8], list[tuple[_Number | _Choice, int]]]:
        """The template row (literals, spaces, decimal points) and where each value goes."""
        pieces: list[bytes] = []
        spans: list[tuple[_Number | _Choice, int]] = []
        at = 0
        for part in self._parts:
            if isinstance(part, _Literal):
                pieces.append(part.text)
                at += len(part.text)
            elif isinstance(part, _Choice):
                pad = -at % 8 if _aligned(part) else 0  # JSON whitespace, to align the value
                pieces.append(b" " * pad)
                at += pad
                spans.append((part, at))
                pieces.append(b" " * part.table.shape[1])
                at += part.table.shape[1]
            else:
                # The integer part is written two digits at a time, in 2-byte words: its
                # width is even, and it starts at an even column (after a space if need be).
                lead = _lead(part)
                pad = at % 2
                pieces.append(b" " * pad)
                at += pad
                text = b" " * lead + (b"." + b"0" * part.decimals if part.decimals else b"")
                spans.append((part, at))
                pieces.append(text)
                at += len(text)
        body = b"".join(pieces)
        row = body + b" " * (-len(body) % 8)
        if b"\x00" in row:
            raise ValueError("literal text cannot hold NUL bytes")
        return np.frombuffer(row, np.uint8), spans

    def _check(self, array: npt.NDArray[np.generic]) -> None:
        if array.shape != (self.n,):
            raise ValueError(f"expected {self.n} values, got shape {array.shape}")


def _aligned(part: _Choice) -> bool:
    return part.table.shape[1] % 8 == 0 and part.table.shape[1] > 8


def _lead(part: _Number) -> int:
    """Columns of a number's integer part (its sign included), even."""
    width = (1 if part.negative is not None else 0) + part.int_digits
    return width + width % 2


# Two characters of an integer part at once, by (value of the two digits) + 100 × state:
# state 0 both digits, 1 only the units (a space before), 2 neither (two spaces).
_PAIRS = np.frombuffer(b"".join([f"{i:02d}".encode() for i in range(100)]
                                + [f" {i % 10}".encode() for i in range(100)]
                                + [b"  "] * 100), np.uint16)


def _write_number(block: npt.NDArray[np.uint8], at: int, part: _Number, lo: int,
                  hi: int) -> None:
    """Writes rows lo:hi of a number into its columns of `block` (template already there)."""
    lead = _lead(part)
    last_int = at + lead - 1  # column of the units digit
    if part.decimals:
        x = part.fraction[lo:hi]
        col = last_int + 1 + part.decimals
        for _ in range(part.decimals):
            q = x // 10
            block[:, col] = (x - q * 10).astype(np.uint8) + _ZERO
            x = q
            col -= 1
    whole = part.whole[lo:hi]
    pairs = block.view(np.uint16)
    x = whole
    word = (last_int - 1) // 2
    for j in range(lead // 2):
        q = x // 100
        # Beyond the number's first digit (kept even when 0: "0.5"), the columns are padding.
        state = (x < 10) * 100 if j == 0 else (x < 10) * 100 + (x == 0) * 100
        pairs[:, word - j] = _PAIRS[x - q * 100 + state]
        x = q
    if part.negative is not None:
        negative = part.negative[lo:hi]
        rows = np.nonzero(negative)[0]
        if rows.size:
            digits = np.ones(rows.size, np.intp)
            for k in range(1, part.int_digits):
                digits += whole[rows] >= 10 ** k
            block[rows, last_int - digits] = _MINUS
