"""Release loading, windows and the plain-data decoder for the compressed hidden tests."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex import InvalidInputError
from skyplex_livecodebench.problems import contamination_split, in_window, load_problems, problem_from_record
from skyplex_livecodebench.safe_decode import UnsafeOrMalformedData, decode_private_tests, load_plain_pickle


def test_slice_loads(problems):
    assert len(problems) == 25
    kinds = {p.kind for p in problems.values()}
    assert kinds == {"stdin", "functional"}
    assert problems["2727"].func_name == "countSeniors" and problems["2727"].public_tests[0].kind == "functional"


def test_windows_and_cutoff(problems):
    ps = list(problems.values())
    inside = in_window(ps, "2023-08-01", "2023-09-30")
    assert inside and all("2023-08" <= p.contest_date.isoformat()[:7] <= "2023-09" for p in inside)
    split = contamination_split(ps, "2023-08-01")
    assert len(split["clean"]) + len(split["possibly_seen"]) == len(ps)
    with pytest.raises(InvalidInputError, match="after its end"):
        in_window(ps, "2024-01-01", "2023-01-01")


def _encode(obj) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(obj)))).decode()


def test_hidden_tests_decoded_without_unpickling(problems):
    tests = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    rec = {"question_id": "x", "contest_date": "2024-01-01", "public_test_cases": "[]", "private_test_cases": _encode(tests)}
    p = problem_from_record(rec)
    assert p.private_tests[0].output == "3\n" and p.tests("all") == p.private_tests


class Boom:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("payload", [pickle.dumps(Boom()), pickle.dumps(Boom(), protocol=0),
                                     pickle.dumps([1, Boom()]), pickle.dumps(object())])
def test_code_bearing_pickles_refused(payload):
    with pytest.raises(UnsafeOrMalformedData, match="not plain data"):
        load_plain_pickle(payload)
    blob = base64.b64encode(zlib.compress(payload)).decode()
    with pytest.raises(InvalidInputError, match="private_test_cases"):
        problem_from_record({"question_id": "x", "contest_date": "2024-01-01", "public_test_cases": [],
                             "private_test_cases": blob})


plain = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
                     lambda kids: st.lists(kids) | st.tuples(kids, kids) | st.dictionaries(st.text(), kids), max_leaves=20)


@given(plain, st.integers(3, 5))
@settings(max_examples=300, deadline=None)
def test_plain_pickles_round_trip(value, protocol):
    assert load_plain_pickle(pickle.dumps(value, protocol=protocol)) == value


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids), max_leaves=20), st.integers(0, 2))
@settings(max_examples=200, deadline=None)
def test_old_protocol_pickles_round_trip(value, protocol):
    # bytes in protocols 0-2 are pickled through a call to _codecs.encode, which is refused by design
    assert load_plain_pickle(pickle.dumps(value, protocol=protocol)) == value


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_garbage_never_escapes_as_another_error(data):
    try:
        load_plain_pickle(data)
    except UnsafeOrMalformedData:
        pass


def test_zip_bomb_refused():
    blob = base64.b64encode(zlib.compress(b"\0" * (4 << 20))).decode()
    with pytest.raises(UnsafeOrMalformedData, match="inflates past"):
        decode_private_tests(blob, max_bytes=1 << 20)


@pytest.mark.parametrize("line,match", [
    ("not json", "line 1: not valid JSON"),
    ('{"question_id": "a"}', "lacks contest_date"),
    ('{"question_id": "a", "contest_date": "yesterday", "public_test_cases": []}', "ISO date"),
    ('{"question_id": "a", "contest_date": "2024-01-01", "public_test_cases": [{"input": 1}]}', "string 'input'"),
])
def test_malformed_problem_files(tmp_path, line, match):
    p = tmp_path / "p.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(InvalidInputError, match=match):
        load_problems(p)
