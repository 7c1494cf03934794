"""The scanner on a labelled set; precision and recall are computed, printed and held above a floor."""

import pytest

from memcli.scan import scan
from tests.scan_cases import CASES, HELDOUT


def evaluate(cases=CASES):
    tp = fp = fn = 0
    wrong = []
    for text, expected in cases:
        kinds = {f.kind for f in scan(text)}
        if expected is None:
            if kinds:
                fp += 1
                wrong.append(("false positive", text, kinds))
        elif expected in kinds:
            tp += 1
        else:
            fn += 1
            wrong.append(("missed", text, kinds))
            if kinds:
                fp += 1
    return tp / max(1, tp + fp), tp / max(1, tp + fn), wrong


def test_labelled_set_is_large_and_balanced():
    assert len(CASES) >= 40
    assert sum(1 for _, e in CASES if e is None) >= 15
    assert {e for _, e in CASES} >= {"injection", "hidden", "secret", "pii", None}


def test_precision_and_recall(capsys):
    precision, recall, wrong = evaluate()
    with capsys.disabled():
        print(f"\nscanner on {len(CASES)} labelled examples: precision {precision:.2f}, recall {recall:.2f}")
        for row in wrong:
            print("  ", row)
    assert precision >= 0.95 and recall >= 0.9, wrong


def test_heldout_set_written_after_the_rules(capsys):
    precision, recall, wrong = evaluate(HELDOUT)
    with capsys.disabled():
        print(f"\nscanner on {len(HELDOUT)} held-out examples: precision {precision:.2f}, recall {recall:.2f}")
        for row in wrong:
            print("  ", row)
    assert precision >= 0.8 and recall >= 0.6, wrong  # a floor, not a target: misses here are documented


def test_findings_name_kind_and_rule():
    [finding] = scan("my password is Hunter2!")
    assert finding.to_json() == {"kind": "secret", "rule": "credential-assignment"}
    assert scan("") == []


@pytest.mark.parametrize("note", ["The kids ignore all house rules when grandma visits.",
                                  "We agreed to ignore all the noise about the merger."])
def test_everyday_ignoring_is_not_an_injection(note):
    """A flagged memory is kept out of ask and extraction, so a false alarm costs recall: asserted one by one, not
    only through the precision floor."""
    assert scan(note) == []
