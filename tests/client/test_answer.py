"""Reading a batch's answer, per the per-event contract and today's 422."""

from __future__ import annotations

import json

from liveeval.client._answer import Fate, read_answer, summary_detail


def test_per_event_results_are_read_by_their_index() -> None:
    body = {
        "results": [
            {
                "index": 2,
                "id": "c",
                "status": "rejected",
                "detail": "score: 1.5 is not in [0, 1]",
                "matched": None,
            },
            {"index": 0, "id": "a", "status": "stored", "detail": None, "matched": True},
            {"index": 1, "id": "b", "status": "duplicate", "detail": None, "matched": False},
        ]
    }
    answer = read_answer("outcomes", 200, json.dumps(body), 3)
    assert answer.results == {
        0: Fate("stored", None, True),
        1: Fate("duplicate", None, False),
        2: Fate("rejected", "score: 1.5 is not in [0, 1]"),
    }
    assert answer.resend == []


def test_an_event_missing_from_the_results_is_stored_on_200_and_rejected_on_422() -> None:
    body = json.dumps({"results": [{"id": "a", "status": "rejected", "detail": "label: bad"}]})
    assert read_answer("predictions", 200, body, 2).results[1] == Fate("stored")
    assert read_answer("predictions", 422, body, 2).results[1] == Fate(
        "rejected", "no result for this event in the server's answer"
    )


def test_an_unknown_status_counts_as_rejected_and_says_so() -> None:
    body = json.dumps({"results": [{"index": 0, "status": "quarantined", "detail": "later"}]})
    assert read_answer("predictions", 200, body, 1).results[0] == Fate(
        "rejected", "unknown status 'quarantined': later"
    )


def test_an_old_422_rejects_the_named_events_and_resends_the_others() -> None:
    body = {
        "detail": [
            {
                "loc": ["body", "function-after[_consistent(), PredictionIn]", "model"],
                "msg": "Field required",
            },
            {
                "loc": ["body", "PredictionBatch", "predictions", 3, "score"],
                "msg": "Input should be less than or equal to 1",
            },
            {
                "loc": ["body", "PredictionBatch", "predictions", 4, "label", "int"],
                "msg": "Input should be a valid integer",
            },
            {
                "loc": ["body", "PredictionBatch", "predictions", 4, "label", "str"],
                "msg": "Input should be a valid string",
            },
            {
                "loc": ["body", "PredictionBatch", "predictions", 4, "score"],
                "msg": "Input should be greater than or equal to 0",
            },
            {
                "loc": ["body", "PredictionBatch", "predictions", 9],
                "msg": "Value error, 'probas' sum to 1.2, not 1",
            },
            {
                "loc": ["body", "PredictionBatch", "predictions", 99, "score"],
                "msg": "out of this batch",
            },
        ]
    }
    answer = read_answer("predictions", 422, json.dumps(body), 10)
    assert answer.results == {
        3: Fate("rejected", "score: Input should be less than or equal to 1"),
        4: Fate(
            "rejected",
            "label: Input should be a valid integer; score: Input should be greater than or equal to 0",
        ),
        9: Fate("rejected", "'probas' sum to 1.2, not 1"),
    }
    assert answer.resend == [0, 1, 2, 5, 6, 7, 8]


def test_a_422_naming_no_event_refuses_them_all() -> None:
    text = json.dumps({"detail": "request body is not JSON"})
    answer = read_answer("outcomes", 422, text, 2)
    refused = Fate("rejected", "the whole request was refused: 422: request body is not JSON")
    assert answer.results == {0: refused, 1: refused} and answer.resend == []


def test_a_200_without_results_takes_the_whole_batch() -> None:
    assert read_answer("predictions", 200, "", 2).results == {0: Fate("stored"), 1: Fate("stored")}


def test_a_whole_request_answer_is_one_line() -> None:
    assert summary_detail(401, '{"detail": "missing bearer token"}') == "401: missing bearer token"
    assert summary_detail(404, "<html>Not Found</html>") == "404: <html>Not Found</html>"
    assert summary_detail(422, json.dumps({"detail": [{"msg": "a"}, {"msg": "b"}]})) == "422: a; b"
    assert len(summary_detail(400, "x" * 1000)) == 300
