import numpy as np

from grounding.postprocess import Span, merge_spans, window_spans

# Window layout: [CLS] q q [SEP] p0 p1 p2 p3 [SEP]
OFFSETS = [None, None, None, None, (0, 3), (4, 9), (10, 15), (16, 20), None]


def logits(peaks: dict[int, float]) -> np.ndarray:
    out = np.full(len(OFFSETS), -5.0)
    for i, v in peaks.items():
        out[i] = v
    return out


def test_best_span_maps_tokens_to_characters() -> None:
    spans, null = window_spans(logits({5: 4.0, 0: 1.0}), logits({6: 3.0, 0: 1.0}), OFFSETS, passage=2)
    assert spans[0] == Span(passage=2, start=4, end=15, score=7.0, null_score=2.0)
    assert null == 2.0
    assert spans[0].margin == 5.0


def test_spans_never_end_before_they_start_or_leave_the_passage() -> None:
    spans, _ = window_spans(logits({6: 4.0, 1: 9.0}), logits({5: 4.0, 2: 9.0}), OFFSETS, passage=0)
    for sp in spans:
        assert sp.start < sp.end
        assert (sp.start, sp.end) != (10, 9)
    assert all(sp.start >= 0 and sp.end <= 20 for sp in spans)


def test_answer_length_limit() -> None:
    spans, _ = window_spans(logits({4: 5.0}), logits({7: 5.0}), OFFSETS, passage=0, max_answer_tokens=2)
    two_tokens_at_most = {(0, 3), (4, 9), (10, 15), (16, 20), (0, 9), (4, 15), (10, 20)}
    assert spans
    assert {(sp.start, sp.end) for sp in spans} <= two_tokens_at_most


def test_no_answer_wins_when_null_is_higher() -> None:
    spans, null = window_spans(logits({0: 6.0, 5: 1.0}), logits({0: 6.0, 5: 1.0}), OFFSETS, passage=0)
    assert null == 12.0
    assert spans[0].margin < 0


def test_merge_keeps_best_margin_per_span() -> None:
    a = Span(0, 4, 9, score=5.0, null_score=1.0)
    b = Span(0, 4, 9, score=5.0, null_score=3.0)
    c = Span(1, 0, 3, score=6.0, null_score=0.0)
    assert merge_spans([a, b, c]) == [c, a]


def test_trim_span_cuts_at_the_line_break_and_edge_punctuation() -> None:
    from grounding.reader import trim_span

    passage = "Call +44 20 7946 0000.\n4.1 Parental leave"
    span = Span(0, 5, len(passage), score=1.0, null_score=0.0)
    trimmed = trim_span(span, passage)
    assert passage[trimmed.start : trimmed.end] == "+44 20 7946 0000"
    assert trim_span(Span(0, 21, 23, 1.0, 0.0), passage).end == 21  # only "." and a newline: nothing left


def test_a_span_never_crosses_a_table_cell_or_a_line() -> None:
    # "P1\tCritical\t15 min" ... offsets as OFFSETS: p0=(0,3) p1=(4,9) p2=(10,15) p3=(16,20)
    text = "Row\tCrit.\t15 mi\nNext"
    spans, _ = window_spans(logits({4: 6.0, 6: 3.0}), logits({6: 6.0, 7: 1.0}), OFFSETS, passage=0, text=text)
    assert spans and all(not any(c in text[sp.start : sp.end] for c in "\t\n") for sp in spans)
    assert (spans[0].start, spans[0].end) == (10, 15)  # the best span inside one cell, not "Row\tCrit.\t15 mi"
    crossing, _ = window_spans(logits({4: 6.0, 6: 3.0}), logits({6: 6.0, 7: 1.0}), OFFSETS, passage=0)
    assert (crossing[0].start, crossing[0].end) == (0, 15)  # without the text the boundaries are unknown
