"""The Hyperscan prefilter (``exporter.prefilter``) only speeds the selection up: on any block,
the spans it leads to are the spans of the ``re`` search alone, and it judges a block that holds
the --json key only when ``fast_scan._json_safe`` holds there.  Random blocks are built from real
log lines, the pieces of them the prefilter looks for, and junk."""

from __future__ import annotations

import platform

import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter import fast_scan, prefilter

REAL = FIXTURES / "real" / "0.14.0"
LINES = sorted(
    {
        line
        for name in ("very_verbose.log", "json_verbose.log", "json.log", "default.log")
        for line in (REAL / name).read_bytes().splitlines()
    }
)
FRAGMENTS = [
    b'{"message_type":"verbose_status","action":"',
    b'{"message_type":"status","action":"',
    b'{"message_type":"',
    b'"message_type":"verbose_status",',
    b"message_type",
    b'{"message_types',
    b'"action"',
    b'scan_finished"',
    b'"summary"',
    b"\\u",
    b"\x1b",
    b"\x00",
    b'\x00"',
    b"\x1c",
    b"\xc3\xa9",
    b" ",
    b"\t",
    b"\r",
    b"\x0b",
    b"{",
    b'"',
    b",",
    b"Total ",
    b"Files:",
    b"does not exist, skipping",
    b"@b:",
    b"restic",
]
PIECE = st.one_of(
    st.sampled_from(LINES), st.sampled_from(FRAGMENTS), st.binary(min_size=1, max_size=6)
)
LINE = st.lists(PIECE, min_size=0, max_size=4).map(lambda pieces: b"".join(pieces))
BLOCK = st.lists(LINE, min_size=1, max_size=40).map(lambda lines: b"\n".join(lines) + b"\n")


@pytest.fixture(scope="module")
def built() -> prefilter.Prefilter:
    found = fast_scan._prefilter()
    if found is None:
        assert platform.machine() != "x86_64", "the Hyperscan prefilter is not there"
        pytest.skip("no Hyperscan on this machine")
    return found


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=BLOCK)
def test_spans_are_those_of_re(built: prefilter.Prefilter, block: bytes) -> None:
    hits = built.scan(block, built.scratch())
    assert fast_scan._selected_spans_prefiltered(block, hits) == fast_scan._selected_spans_re(block)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=BLOCK)
def test_a_json_block_is_judged_only_where_json_safe_holds(
    built: prefilter.Prefilter, block: bytes
) -> None:
    if fast_scan._JSON_KEY in block and built.scan(block, built.scratch()) is not None:
        assert fast_scan._json_safe(block)


def _filler(count: int) -> bytes:
    return b"".join(b"unchanged /srv/data/file-%d.bin\n" % index for index in range(count))


def _json_filler(count: int) -> bytes:
    return b"".join(
        b'{"message_type":"verbose_status","action":"new","item":"/f/%d","duration":0}\n' % index
        for index in range(count)
    )


@pytest.mark.parametrize(
    ("block", "selected"),
    [
        (_filler(3000) + b"Files: 1 new\n" + _filler(3000), 1),
        (_json_filler(3000) + b'{"message_type":"summary","files_new":1}\n' + _json_filler(9), 1),
        (b'{"message_type":"status","percent_done":0}\n' + _json_filler(3000), 1),
    ],
)
def test_a_plain_block_is_judged_by_the_prefilter(
    built: prefilter.Prefilter, block: bytes, selected: int
) -> None:
    """Not every block falls back to ``re``: the equivalence tests test the prefilter."""
    hits = built.scan(block, built.scratch())
    assert hits is not None
    assert len(hits.line_starts) <= selected + 1  # the block's first line is always tried
    assert len(fast_scan._selected_spans_prefiltered(block, hits)) == selected


@pytest.mark.parametrize(
    "block",
    [
        _json_filler(10) + b'{"message_type":"verbose_status","action":"new","message_type":1}\n',
        _json_filler(10) + b'{"message_type":"verbose_status","action":"new","action":"x"}\n',
        _json_filler(10) + b'{"message_type":"verbose_status","action":"\\u0061"}\n',
        _json_filler(10) + b'{"message_type":"verbose_status","action":"\x1b[0m"}\n',
        _json_filler(10) + b'{"message_type":"verbose_status","action":"action"}\n',
        _json_filler(10) + b'{"message_types":1}\n',
        b'{"message_type' + _json_filler(10),
    ],
)
def test_a_json_block_against_the_shortcut_takes_the_re_path(
    built: prefilter.Prefilter, block: bytes
) -> None:
    assert built.scan(block, built.scratch()) is None


@pytest.mark.parametrize(
    ("piece", "expression", "spaces"),
    [
        (r"Files:", r"\x46\x69\x6c\x65\x73\x3a", None),
        (r"\d+ snapshots", r"(?:[\x30-\x39]){1,}\x20\x73\x6e\x61\x70\x73\x68\x6f\x74\x73", None),
        (r"\s*Total ", r"[\x09\x0b-\x0d\x20]*\x54\x6f\x74\x61\x6c\x20", b"\t\x0b\x0c\r "),
        (r"[ \t]*\{", r"(?:[\x09\x20]){0,}\x7b", None),
    ],
)
def test_a_piece_becomes_a_line_pattern(piece: str, expression: str, spaces: bytes | None) -> None:
    assert prefilter.line_pattern(piece) == prefilter.LinePattern(expression, spaces)


@pytest.mark.parametrize("piece", [r"a\nb", r"a\s*b", r"(?=a)b", r"(a)\1", r"a.*\Z", ""])
def test_a_piece_hyperscan_cannot_stand_in_for_is_refused(piece: str) -> None:
    with pytest.raises(prefilter.Unsupported):
        prefilter.line_pattern(piece)


def test_a_database_hyperscan_refuses_sends_blocks_to_re() -> None:
    refused = prefilter._Database([("a(", prefilter.LINE, None)])
    assert refused.scan(b"a(\n", prefilter.Scratch()) is None


def test_a_dense_block_takes_the_re_path(built: prefilter.Prefilter) -> None:
    """Where most lines are candidates, a Python call per hit costs more than ``re``."""
    dense = b"unchanged /x\nFiles:  1 new\n" * (prefilter.DENSE + 1)
    assert built.scan(dense, built.scratch()) is None
    sparse = b"Files:  1 new\nunchanged /x\n" * (prefilter.DENSE // 2)
    assert built.scan(sparse, built.scratch()) is not None
