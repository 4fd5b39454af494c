"""A task's recipient file read into rows (README "Bulk tasks"): encodings, line endings, quoting,
headers, bounds, and the counting rule that every data row is kept, merged or reported by its line."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.numbers import normalise
from smsengine.domain.task_csv import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, _csv_lines, _plain_lines, json_rows, parse_csv

BOM = b"\xef\xbb\xbf"


def read(text: str, params: int = 2, **bounds) -> object:
    return parse_csv(text.encode(), params, "CN", **bounds)


def refused(call, *args, **kwargs) -> SmsError:
    with pytest.raises(SmsError) as caught:
        call(*args, **kwargs)
    return caught.value


def problem_lines(file) -> list[tuple[int, int]]:
    return [(p.line, p.code) for p in file.problems]


# -- encodings and line endings ---------------------------------------------------------------------------
@pytest.mark.parametrize("bom", [b"", BOM], ids=["no-bom", "bom"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "mixed"])
def test_bom_and_line_endings_read_the_same_rows(bom, newline):
    lines = ["phone,code,minutes", "+8613800000001,1234,5", "13800000002,4321,10", "+8613800000003,9,9"]
    if newline == "mixed":
        text = lines[0] + "\r\n" + lines[1] + "\n" + lines[2] + "\r\n" + lines[3]  # and no newline at the end
    else:
        text = newline.join(lines) + newline
    file = parse_csv(bom + text.encode(), 2, "CN")
    assert file.header is True  # the BOM is not part of the header's first cell
    assert file.rows == [(2, "+8613800000001", ("1234", "5")), (3, "+8613800000002", ("4321", "10")),
                         (4, "+8613800000003", ("9", "9"))]
    assert file.problems == [] and file.merged == 0


def test_a_bom_alone_before_a_number_is_not_read_as_part_of_it():
    file = parse_csv(BOM + b"13800000001,1,2\n", 2, "CN")
    assert file.header is False and file.rows == [(1, "+8613800000001", ("1", "2"))]


# -- quoting -----------------------------------------------------------------------------------------------
def test_quoted_fields_hold_commas_doubled_quotes_and_line_breaks():
    text = ('+8613800000001,"12,34",5\r\n'
            '+8613800000002,"say ""hi""",6\r\n'
            '+8613800000003,"two\r\nlines",7\r\n'
            '+8613800000004,"x\ny",8\n')
    file = read(text)
    assert [params for _, _, params in file.rows] == [("12,34", "5"), ('say "hi"', "6"), ("two\r\nlines", "7"),
                                                        ("x\ny", "8")]
    assert file.problems == []


def test_a_row_spanning_lines_is_reported_at_the_line_it_starts_on_and_later_lines_keep_their_numbers():
    text = ("+8613800000001,1,2\n"
            '+8613800000002,"a\nb\nc",3\n'  # lines 2-4
            "+8613800000003,1\n"  # line 5: a parameter missing
            '+8613800000004,"p\nq"\n'  # lines 6-7: one parameter only, across two lines
            "+8613800000005,1,2\n")  # line 8
    file = read(text)
    assert [(line, phone) for line, phone, _ in file.rows] == [(1, "+8613800000001"), (2, "+8613800000002"),
                                                               (8, "+8613800000005")]
    assert problem_lines(file) == [(5, 1014), (6, 1014)]


def test_an_unterminated_quote_is_refused_with_1004():
    error = refused(read, '+8613800000001,"never closed,5\n+8613800000002,1,2\n')
    assert error.code == ErrorCode.REQUEST_MALFORMED and "CSV line" in error.message


# -- blank lines, headers, trailing columns ----------------------------------------------------------------
def test_blank_lines_are_skipped_and_lines_stay_those_of_the_file():
    text = "\n\r\nphone,code,minutes\n\n+8613800000001,1,2\n\n\n+86138x,1,2\n   \n+8613800000002,3,4\n,,\n"
    file = read(text)
    # the header is the first line that is not blank (a blank line before it is not the header)
    assert file.header is True
    assert [(line, phone) for line, phone, _ in file.rows] == [(5, "+8613800000001"), (10, "+8613800000002")]
    # "   " is a one-cell row of blanks, ",," a row of empty cells: both blank, skipped
    assert problem_lines(file) == [(8, 1016)]


@pytest.mark.parametrize("first", ["phone,code,minutes", "手机号,验证码,分钟", "Phone , Code , Min",
                                   ",code,min"])
def test_a_first_line_without_a_digit_in_its_first_cell_is_a_header(first):
    file = read(first + "\n+8613800000001,1,2\n")
    assert file.header is True and len(file.rows) == 1 and file.problems == []


@pytest.mark.parametrize("first", ["13800000001,1,2", "+8613800000001,1,2", "8613800000001,1,2"])
def test_a_first_row_that_is_a_number_is_a_recipient_not_a_header(first):
    file = read(first + "\n13800000009,3,4\n")
    assert file.header is False
    assert [(line, phone) for line, phone, _ in file.rows] == [(1, "+8613800000001"), (2, "+8613800000009")]


def test_a_header_with_a_digit_in_its_first_cell_is_read_as_a_row_and_reported():
    file = read("phone1,code,minutes\n+8613800000001,1,2\n")
    assert file.header is False and problem_lines(file) == [(1, 1016)] and len(file.rows) == 1


def test_chinese_parameters_and_trailing_empty_columns():
    text = "手机号,验证码,分钟\r\n+8613800000001,验证码一二三,十分钟,,,\r\n13800000002,  五 ,六,\r\n"
    file = read(text)
    assert file.rows == [(2, "+8613800000001", ("验证码一二三", "十分钟")),
                         (3, "+8613800000002", ("五", "六"))]
    # an empty column inside the row is a parameter (empty), not a trailing one
    file = read("+8613800000001,,5\n")
    assert file.rows == [(1, "+8613800000001", ("", "5"))]


# -- rows that cannot be sent -----------------------------------------------------------------------------
def test_a_bad_row_in_the_middle_is_reported_by_line_and_the_rows_around_it_go_through():
    text = "\n".join(["+8613800000001,1,2", "+8613800000002,1,2", "12345,1,2", "+8613800000003,1,2",
                      "+8613800000004,1,2"]) + "\n"
    file = read(text)
    assert [line for line, _, _ in file.rows] == [1, 2, 4, 5]
    assert len(file.problems) == 1
    problem = file.problems[0]
    assert (problem.line, problem.value, problem.code) == (3, "12345", int(ErrorCode.NUMBER_INVALID))


def test_wrong_parameter_counts_are_1014_with_the_counts_in_the_reason():
    text = "+8613800000001,1\n+8613800000002,1,2,3\n+8613800000003\n+8613800000004,1,2\n"
    file = read(text)
    assert problem_lines(file) == [(1, 1014), (2, 1014), (3, 1014)]
    assert [p.reason for p in file.problems] == ["1 parameters, the template takes 2",
                                                 "3 parameters, the template takes 2",
                                                 "0 parameters, the template takes 2"]
    assert [line for line, _, _ in file.rows] == [4]
    # a template without parameters: the number alone
    file = read("+8613800000001\n+8613800000002,extra\n", params=0)
    assert file.rows == [(1, "+8613800000001", ())] and problem_lines(file) == [(2, 1014)]


def test_a_cell_too_long_is_a_problem_not_a_refusal_of_the_file():
    file = read(f"+8613800000001,{'x' * 1001},2\n+8613800000002,{'y' * 1000},2\n")
    assert problem_lines(file) == [(1, 1004)] and [line for line, _, _ in file.rows] == [2]


def test_equal_rows_are_merged_and_the_same_number_with_other_params_is_kept():
    text = ("+8613800000001,1,2\n"
            "13800000001,1,2\n"  # the same number written another way, same params: merged
            "+8613800000001, 1 ,2\n"  # cells are trimmed: merged too
            "+8613800000001,1,3\n"  # other params: a second message
            "+8613800000002,1,2\n")
    file = read(text)
    assert file.merged == 2
    assert file.rows == [(1, "+8613800000001", ("1", "2")), (4, "+8613800000001", ("1", "3")),
                         (5, "+8613800000002", ("1", "2"))]


# -- bounds ------------------------------------------------------------------------------------------------
def numbers_csv(count: int, *, header: bool = False) -> bytes:
    head = "phone,code,minutes\n" if header else ""
    return (head + "".join(f"+86138{i:08d},{i % 97},5\n" for i in range(count))).encode()


def test_100000_rows_are_accepted_and_100001_refused_with_1055():
    file = parse_csv(numbers_csv(DEFAULT_MAX_ROWS, header=True), 2, "CN")
    assert len(file.rows) == DEFAULT_MAX_ROWS and file.header is True and file.problems == []
    error = refused(parse_csv, numbers_csv(DEFAULT_MAX_ROWS + 1), 2, "CN")
    assert error.code == ErrorCode.TASK_TOO_LARGE and "100,000" in error.message
    # rows that will be reported count as rows too
    error = refused(parse_csv, numbers_csv(DEFAULT_MAX_ROWS) + b"+8613800000001,1\n", 2, "CN")
    assert error.code == ErrorCode.TASK_TOO_LARGE


def test_blank_lines_do_not_count_towards_the_row_limit():
    data = b"\n\n" + numbers_csv(1000).replace(b"5\n+", b"5\n\n+", 10) + b"\n\n\n"
    file = parse_csv(data, 2, "CN", max_rows=1000)
    assert len(file.rows) == 1000
    data = b"phone,code,minutes\n\n" + numbers_csv(1000) + b"\n"
    assert len(parse_csv(data, 2, "CN", max_rows=1000).rows) == 1000
    assert refused(parse_csv, data + b"+8613999999999,1,2\n", 2, "CN", max_rows=1000).code == ErrorCode.TASK_TOO_LARGE


def test_json_rows_bound_is_the_same():
    rows = [[f"+86138{i:08d}", "1", "2"] for i in range(1001)]
    assert len(json_rows(rows[:1000], 2, "CN", max_rows=1000).rows) == 1000
    assert refused(json_rows, rows, 2, "CN", max_rows=1000).code == ErrorCode.TASK_TOO_LARGE


def file_of_size(size: int) -> bytes:
    """A valid recipient file of exactly `size` bytes (rows of 32 bytes, the last one shorter)."""
    rows, last = divmod(size, 32)
    assert last >= 18 + 1 or last == 0
    body = "".join(f"+86138{i:08d},{i:014d},5\n" for i in range(rows))
    if last:
        body += f"+86139{0:08d},{'p' * (last - 18)},5\n"
    data = body.encode()
    assert len(data) == size
    return data


def test_the_file_must_be_smaller_than_max_bytes():
    # "< 3 MB": 3 MiB - 1 bytes is read, 3 MiB is not
    data = file_of_size(DEFAULT_MAX_BYTES - 1)
    file = parse_csv(data, 2, "CN")
    assert file.problems == [] and len(file.rows) == (DEFAULT_MAX_BYTES - 1) // 32 + 1
    error = refused(parse_csv, file_of_size(DEFAULT_MAX_BYTES), 2, "CN")
    assert error.code == ErrorCode.TASK_TOO_LARGE and "smaller than 3,145,728 bytes" in error.message
    # and the configured bound, either side of it
    small = file_of_size(1015)
    assert len(parse_csv(small, 2, "CN", max_bytes=1016).rows) == 32
    assert refused(parse_csv, small, 2, "CN", max_bytes=1015).code == ErrorCode.TASK_TOO_LARGE


@pytest.mark.parametrize("bom", [b"", BOM], ids=["no-bom", "bom"])
def test_invalid_utf8_is_1004_naming_the_byte_in_the_file(bom):
    data = bom + b"+8613800000001,1,2\n+8613800000002,\xff\xfe,2\n"
    error = refused(parse_csv, data, 2, "CN")
    assert error.code == ErrorCode.REQUEST_MALFORMED
    bad = data.index(b"\xff")
    assert f"(byte {bad})" in error.message  # counted from the file's first byte


def test_gbk_text_is_refused_not_read_as_garbage():
    data = "+8613800000001,验证码,2\n".encode("gbk")
    assert refused(parse_csv, data, 2, "CN").code == ErrorCode.REQUEST_MALFORMED


# -- JSON rows ----------------------------------------------------------------------------------------------
def test_json_rows_are_numbered_by_place_and_never_taken_for_a_header():
    rows = [["phone", "code", "minutes"], ["+8613800000001", "1", "2"], ["13800000001", "1", "2"],
            ["+8613800000002", "1"], ["+8613800000003", "验证", "十", ""]]
    file = json_rows(rows, 2, "CN")
    assert file.header is False and file.merged == 1
    assert file.rows == [(2, "+8613800000001", ("1", "2")), (5, "+8613800000003", ("验证", "十"))]
    assert problem_lines(file) == [(1, 1016), (4, 1014)]


# -- the counting rule -------------------------------------------------------------------------------------
NUMBERS = ["+8613800000001", "13800000001", "8613800000001", "+8613800000002", "13900000003", "+14155550123",
           "12345", "abc", ""]
PARAMS = ["1", "2", "验证", "a,b", 'q"q', "x\ny", " 1 ", ""]


def kept_rows(rows: list[tuple[int, list[str]]]) -> list[tuple[int, str, tuple[str, ...]]]:
    """What should be sent, computed plainly: the first sight of each (number, params) among rows
    with a valid number and two parameters (trailing empty cells dropped, cells trimmed)."""
    expected, seen = [], set()
    for line, cells in rows:
        cells = list(cells)
        while cells and not cells[-1].strip():
            cells.pop()
        if len(cells) != 3:
            continue
        e164 = normalise(cells[0].strip(), "CN")
        key = (e164, tuple(c.strip() for c in cells[1:]))
        if e164 is not None and key not in seen:
            seen.add(key)
            expected.append((line, *key))
    return expected


def blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


ROWS = st.lists(st.lists(st.sampled_from(PARAMS), max_size=3).flatmap(
    lambda params: st.sampled_from(NUMBERS).map(lambda number: [number, *params])), max_size=40)


@st.composite
def recipient_files(draw):
    """A CSV as a spreadsheet might export it (blank lines, CRLF or LF, quoted cells, maybe a
    header), and its data rows with the line each starts on."""
    out = io.StringIO()
    line = 1
    ends = st.sampled_from(["\n", "\r\n"])

    def blank_lines():
        nonlocal line
        while draw(st.integers(0, 4)) == 4:  # now and then (never, shrunk)
            out.write(draw(ends))
            line += 1

    blank_lines()
    header = draw(st.booleans())
    if header:
        out.write("phone,code,minutes" + draw(ends))
        line += 1
    data: list[tuple[int, list[str]]] = []
    for cells in draw(ROWS):
        blank_lines()
        text = io.StringIO()
        csv.writer(text).writerow(cells)  # "\r\n" as its terminator: quotes a cell with a line break
        row = text.getvalue().removesuffix("\r\n")
        if not blank(cells):
            data.append((line, cells))
        out.write(row + draw(ends))
        line += row.count("\n") + 1
    if not header and data and not any(ch.isdigit() for ch in data[0][1][0]):
        data = data[1:]  # a first row without a digit in its first cell is a header, by the rule
    return out.getvalue().encode(), data


@settings(max_examples=300, deadline=None)
@given(recipient_files(), st.booleans())
def test_every_data_row_is_kept_merged_or_a_problem_at_its_own_line(generated, bom):
    data, rows = generated
    file = parse_csv((BOM if bom else b"") + data, 2, "CN")
    assert len(file.rows) + file.merged + len(file.problems) == len(rows)
    kept = [(phone, params) for _, phone, params in file.rows]
    assert len(set(kept)) == len(kept)
    starts = {line for line, _ in rows}
    lines = [line for line, _, _ in file.rows] + [p.line for p in file.problems]
    assert set(lines) <= starts and len(set(lines)) == len(lines)
    assert file.rows == kept_rows(rows)


@settings(max_examples=300, deadline=None)
@given(ROWS)
def test_json_rows_follow_the_same_counting_rule(rows):
    file = json_rows(rows, 2, "CN")
    numbered = [(i, cells) for i, cells in enumerate(rows, 1) if not blank(cells)]
    assert len(file.rows) + file.merged + len(file.problems) == len(numbered)
    kept = [(phone, params) for _, phone, params in file.rows]
    assert len(set(kept)) == len(kept)
    assert {p.line for p in file.problems} <= {line for line, _ in numbered}
    assert file.rows == kept_rows(numbered)


# text without quotes, NUL or lone CR, but with everything else a file holds: separators, CRLF and
# LF, blank and comma-only lines, spaces, digits, +, Chinese, emoji, tabs
_plain_text = st.lists(st.sampled_from([",", "\n", "\r\n", " ", "\t", "+86138", "0", "9", "验证", "😀", "a", ",,", "\u3000"]),
                       max_size=60).map("".join)


@settings(max_examples=500)
@given(_plain_text)
def test_the_plain_split_gives_what_the_csv_reader_gives(text):
    assert _plain_lines(text, DEFAULT_MAX_ROWS) == _csv_lines(text, DEFAULT_MAX_ROWS)


@pytest.mark.parametrize("text", ['a,"b"\n', "a\rb\n", "a\0b\n"])
def test_a_quote_a_lone_cr_or_a_nul_goes_through_the_csv_reader(text):
    assert _plain_lines(text, DEFAULT_MAX_ROWS) is None


def test_rows_merge_only_with_identical_params_and_the_first_is_kept():
    file = json_rows([["13800138000", "1234"], ["+8613800138000", "1234"], ["+8613800138000", "5678"],
                      ["bad", "1"], ["+14155552671", "1234"]], 1, "CN")
    assert file.rows == [(1, "+8613800138000", ("1234",)), (3, "+8613800138000", ("5678",)),
                         (5, "+14155552671", ("1234",))]
    assert file.merged == 1
    assert [(p.line, p.code) for p in file.problems] == [(4, 1016)]
