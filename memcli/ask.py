"""ask: answer a question from recalled memories only, citing them, or abstain."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .extract import check_grounding
from .ingest.keys import labelled
from .scan import holds_instructions

if TYPE_CHECKING:
    from .context import Context

ASK_MIN_SIMILARITY = 0.35  # below this nothing recalled is about the question: abstain without generating
ABSTAIN = "Memory holds nothing on that."
ASK_SHOTS = """Notes:
[12] Tom: We finally bought the blue house on Elm Street.
Question: Where does Tom live?
Answer: In the blue house on Elm Street [12].

Notes:
[3] Sue: I love pottery.
Question: What car does Sue drive?
Answer: Memory holds nothing on that.

"""


def ask(ctx: "Context", question: str, *, limit: int = 8) -> dict:
    """Answer from recalled memories only, citing their ids; abstain when nothing relevant is stored.

    The generated answer is kept only if it cites a recalled memory and passes the same lexical grounding
    check as extracted facts; otherwise the answer is the closest memory, verbatim ("extractive" mode).
    """
    if not question.strip():
        raise InputError("empty question")
    from .retrieval.recall import recall

    hits = recall(ctx, question, limit=limit)
    relevant = [h for h in hits if (h.match.get("similarity") or 0) >= ASK_MIN_SIMILARITY
                and not holds_instructions(h.flags)]
    context: list[dict[str, Any]] = [{"id": h.id, "text": h.text, "speaker": h.speaker, "occurred_at": h.occurred_at,
                "score": h.score} for h in relevant]
    if not relevant:
        return {"question": question, "answer": ABSTAIN, "abstained": True, "mode": "abstained", "cited": [],
                "generated": None, "context": []}
    # Stored text is data: it goes in as quoted notes, one line each, never as instructions.
    notes = "\n".join(
        f"[{c['id']}] {' '.join(labelled(c['speaker'], c['text']).split())[:300]}"
        for c in context)
    prompt = ASK_SHOTS + f"Notes:\n{notes}\nQuestion: {' '.join(question.split())}\nAnswer:"
    generated = ctx.generator.complete(prompt, max_tokens=80, stop=["\n"], deadline_s=60).strip()
    by_id = {c["id"]: c for c in context}
    cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", generated) if int(n) in by_id})
    claim = re.sub(r"\[\d+\]", "", generated)
    grounded = bool(cited) and check_grounding(claim, [
        labelled(by_id[i]["speaker"], by_id[i]["text"]) for i in cited])[0]
    if grounded:
        answer, mode = generated, "generated"
    else:
        # The model's answer is not supported by what it cites, or it says memory holds nothing although a
        # memory close to the question was recalled: say what memory does hold instead.
        top = context[0]
        answer, mode, cited = f"Closest memory [{top['id']}]: {top['text']}", "extractive", [top["id"]]
    return {"question": question, "answer": answer, "abstained": mode == "abstained", "mode": mode,
            "cited": cited, "generated": generated, "context": context}
