"""ask: answer a question from recalled memories only, citing them, or abstain; and know who said what.

A question about a person (it names one of the stored speakers, or says 'I' when the store holds the user's own
words beside someone else's) is answered only from that person's own words. Whose words the question's topic is in
is decided without the generator, on the memories recalled for the question with the person's name set aside:
- a memory counts as a statement of its speaker unless it only asks ('How was the cinema?') or speaks to or of the
  other person ('your trip sounds fun', 'that must have been great'): in a dialogue, 'I' is the speaker and 'you'
  the one spoken to;
- each statement's support is its cosine with the question plus its full-text score (relative to the best);
- the asked person's best statement must come within ATTRIBUTION_MARGIN (or that share) of anyone else's best, else
  the answer is a correction naming who did say it ('Bo said that, not Ana: ...', when that statement is close to
  the question) or 'Memory holds nothing on what Ana said about that.' Neither calls the generator.
Otherwise the generator gets the asked person's statements as notes, and its answer is kept only if it cites them
and passes the lexical grounding check; else the answer is the person's closest statement, verbatim. Every answer
names whose words it rests on. Measured with bench/ask_attribution.py (docs/models.md).
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .extract import check_grounding, content_stems
from .ingest.keys import labelled
from .retrieval.fts_query import STOP_WORDS
from .scan import holds_instructions

if TYPE_CHECKING:
    from .context import Context
    from .types import Hit

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
ASK_NOTES = 3  # notes given to the generator: the prompt is most of its time (bench/ask_attribution.py)
ASK_NOTE_CHARS = 240
ASK_MAX_TOKENS = 32  # a cited answer is one short line (the example's is 12 tokens); at 80 a rambling answer ran 7 s
ASK_DEADLINE_S = 10.0
# Attribution, chosen on the REALTALK tuning chats (bench/ask_attribution.py): statements among the top
# ATTRIBUTION_DEPTH memories recalled for the question without the person's name; support = cosine +
# ATTRIBUTION_BM25 × (bm25 / the best bm25 there); the asked person's best may trail anyone else's by the margin
# (absolute, or relative when that is less: _within).
ATTRIBUTION_DEPTH = 10
ATTRIBUTION_BM25 = 0.8
ATTRIBUTION_MARGIN = 0.25
ATTRIBUTION_FLOOR = 0.15  # and the asked person's best must have at least this cosine with the question
# Speaker labels that are the user (their own notes have no speaker at all) and pronouns that are the asker.
USER_LABELS = frozenset({"user", "human", "me", "myself", "self"})
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|myself)\b", re.IGNORECASE)
_SPEAKER_FIRST = re.compile(r"\b(?:i|i['’](?:m|ve|d|ll)|im|ive|me|my|mine|myself|we|our|ours|us)\b", re.IGNORECASE)
_SPEAKER_SECOND = re.compile(r"\b(?:you|your|yours|yourself|you['’](?:re|ve|d|ll)|youre|u|ur)\b", re.IGNORECASE)
# A reaction to what the other person said ('That sounds like a fantastic spa!', 'must have been fun') speaks of them.
_REACTION = re.compile(r"\b(?:that|it|this)\s+(?:sounds|looks|seems)\b|\bsounds\s+(?:like|so|really|great|fun|amazing)\b"
                       r"|\bmust\s+(?:have\s+been|be|feel)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Subject:
    """Whom a question asks about: `shown` as the question says it; `owns` tells a speaker label of theirs."""

    shown: str
    labels: frozenset[str | None]

    def owns(self, speaker: str | None) -> bool:
        return speaker in self.labels


def statement_person(text: str, topic: AbstractSet[str] = frozenset()) -> str:
    """Whom a turn speaks of, read from its sentences: 'speaker' (it says I/my/we, or neither I nor you: 'Miso
    loves the balcony'), 'addressee' (it speaks to or of the other person: 'your trip sounds fun', 'that must have
    been fun') or 'question' (it asks: 'Nice! How is the cat?'). A sentence holding k of the question's words (`topic`: content_stems)
    counts 1 + 2k times: 'Glad you are well! Your semester must be over. As for me, I am tired' is about the other
    person's semester. Ties go to the speaker."""
    votes = {"speaker": 0.0, "addressee": 0.0, "question": 0.0}
    said = False
    for s in _SENTENCE.split(text):
        if not s.strip():
            continue
        said = True
        weight = 1.0 + 2 * len(topic & content_stems(s)) if topic else 1.0
        if s.strip().endswith("?"):
            votes["question"] += weight
            continue
        first, second = bool(_SPEAKER_FIRST.search(s)), bool(_SPEAKER_SECOND.search(s) or _REACTION.search(s))
        if first:
            votes["speaker"] += weight / 2 if second else weight
        if second:
            votes["addressee"] += weight / 2 if first else weight
    if not said:
        return "question"
    best = max(votes.values())
    return "speaker" if votes["speaker"] == best else max(votes, key=lambda k: votes[k])


def who(speaker: str | None) -> str:
    """A speaker label as an answer shows it: the user's own notes have none."""
    return speaker if speaker else "you"


def _store_speakers(ctx: "Context") -> list[str | None]:
    return ctx.store.memories.speakers()


def subject_of(question: str, speakers: list[str | None]) -> Subject | None:
    """The one stored speaker the question names; else, for a question in the first person ('what did I say'),
    the user, when the store holds the user's words (notes without a speaker, or a 'user' role) beside someone
    else's; else None (no attribution: a chat between two named people does not say which of them 'I' is)."""
    from .retrieval.priors import name_spans, named_speaker

    named = named_speaker(question, speakers)
    if named is not None:
        spans = name_spans(question, named)
        shown = " ".join(question[a:b] for a, b in spans) if spans else named
        return Subject(shown, frozenset({named}))
    if _FIRST_PERSON.search(question):
        mine = {s for s in speakers if s is None or s.strip().lower() in USER_LABELS}
        if mine and len(mine) < len(set(speakers)):
            return Subject("you", frozenset(mine))
    return None


def _without_name(question: str, subject: Subject) -> str:
    """The question with the words that name the subject (and a possessive 's after them) taken out."""
    from .retrieval.priors import name_spans

    named = next((s for s in subject.labels if s), None)
    if named is None or subject.shown == "you":
        return question
    out = question
    for start, end in reversed(name_spans(question, named)):
        tail = re.match(r"['’]s?\b", out[end:])
        out = out[:start] + out[end + (tail.end() if tail else 0):]
    return " ".join(out.split())


def _within(best: float) -> float:
    """How far the asked person's best may trail anyone else's: the margin, or that share of it, whichever is less
    (without full-text scores, in a small store, support is a cosine alone and 0.25 of it would be most of it)."""
    return max(best - ATTRIBUTION_MARGIN, best * (1 - ATTRIBUTION_MARGIN))


def _support(hits: list["Hit"]) -> dict[int, float]:
    best_bm25 = max([h.match.get("bm25") or 0.0 for h in hits] + [1e-9])
    return {h.id: (h.match.get("similarity") or 0.0) + ATTRIBUTION_BM25 * (h.match.get("bm25") or 0.0) / best_bm25
            for h in hits}


def _note(h: dict[str, Any]) -> str:
    return f"[{h['id']}] {' '.join(labelled(h['speaker'], h['text']).split())[:ASK_NOTE_CHARS]}"


def _entry(h: "Hit") -> dict[str, Any]:
    return {"id": h.id, "text": h.text, "speaker": h.speaker, "occurred_at": h.occurred_at, "score": h.score}


def ask(ctx: "Context", question: str, *, limit: int = 8) -> dict:
    """Answer from recalled memories only, citing their ids; abstain when nothing relevant is stored; answer a
    question about a person only from that person's words, else correct it or decline (module docstring).

    `verdict` is answered / corrected / declined; `subject` whom the question asks about (None: nobody in
    particular); `said_by` whose words the answer rests on ('you': the user's own notes)."""
    if not question.strip():
        raise InputError("empty question")
    from .retrieval.recall import recall

    hits = recall(ctx, question, limit=limit)
    relevant = [h for h in hits if (h.match.get("similarity") or 0) >= ASK_MIN_SIMILARITY
                and not holds_instructions(h.flags)]
    if not relevant:
        return _result(question, ABSTAIN, "abstained", [], None, [], None)
    speakers = list(dict.fromkeys(_store_speakers(ctx) + [h.speaker for h in hits]))
    subject = subject_of(question, speakers)
    if subject is None:  # a question answers nothing: the closest statement comes first
        words = content_stems(question)
        relevant.sort(key=lambda h: statement_person(h.text, words) == "question")
        return _answer(ctx, question, [_entry(h) for h in relevant], None)

    # Whose words is the topic in? Recall again with the name set aside, so the speaker prior and the name in
    # each memory's key do not pull the asked person's turns up.
    topic = _without_name(question, subject)
    topical: list[Hit] = []
    if topic != question and any(w.lower() not in STOP_WORDS for w in _WORD.findall(topic)):
        topical = [h for h in recall(ctx, topic, limit=ATTRIBUTION_DEPTH, touch=False)
                   if not holds_instructions(h.flags)]
    elif subject.shown == "you":  # no name to set aside; every recalled memory, the floor judges the weak ones
        topical = [h for h in hits if not holds_instructions(h.flags)][:ATTRIBUTION_DEPTH]
    if not topical:  # 'What did Ana say?': no topic to attribute, only a person; answer from their words
        own = [h for h in relevant if subject.owns(h.speaker)]
        if not own:
            return _declined(question, subject, relevant)
        return _answer(ctx, question, [_entry(h) for h in own], subject)
    support = _support(topical)
    words = content_stems(topic)
    statements = [h for h in topical if statement_person(h.text, words) == "speaker"]
    own = sorted((h for h in statements if subject.owns(h.speaker)), key=lambda h: -support[h.id])
    rival = sorted((h for h in statements if not subject.owns(h.speaker)), key=lambda h: -support[h.id])
    if own and (not rival or support[own[0].id] >= _within(support[rival[0].id])) \
            and (own[0].match.get("similarity") or 0) >= ATTRIBUTION_FLOOR:
        # Notes: the person's statements on the topic, then their other relevant turns (the name recalled them).
        seen = {h.id for h in own}
        notes = own + [h for h in relevant if subject.owns(h.speaker) and h.id not in seen
                       and statement_person(h.text, words) == "speaker"]
        return _answer(ctx, question, [_entry(h) for h in notes], subject)
    if rival and (rival[0].match.get("similarity") or 0) >= ASK_MIN_SIMILARITY:
        top = rival[0]
        answer = (f"{_capital(who(top.speaker))} said that, not {subject.shown}: "
                  f"{' '.join(top.text.split())} [{top.id}]")
        return _result(question, answer, "corrected", [top.id], None, [_entry(h) for h in topical], subject,
                       said_by=[who(top.speaker)])
    return _declined(question, subject, topical)


def _capital(name: str) -> str:
    return name[:1].upper() + name[1:]


def _declined(question: str, subject: Subject, context: list["Hit"]) -> dict:
    return _result(question, f"Memory holds nothing on what {subject.shown} said about that.", "abstained", [], None,
                   [_entry(h) for h in context], subject)


def _answer(ctx: "Context", question: str, context: list[dict[str, Any]], subject: Subject | None) -> dict:
    """Generate from the first ASK_NOTES of `context`; keep the answer only if it is grounded in what it cites,
    else the first of `context`, verbatim. Either way the answer names whose words it rests on."""
    notes = context[:ASK_NOTES]
    # Stored text is data: it goes in as quoted notes, one line each, never as instructions.
    prompt = (ASK_SHOTS + "Notes:\n" + "\n".join(_note(c) for c in notes)
              + f"\nQuestion: {' '.join(question.split())}\nAnswer:")
    generated = ctx.generator.complete(prompt, max_tokens=ASK_MAX_TOKENS, stop=["\n"],
                                       deadline_s=ASK_DEADLINE_S).strip()
    by_id = {c["id"]: c for c in notes}
    cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", generated) if int(n) in by_id})
    claim = re.sub(r"\[\d+\]", "", generated)
    grounded = bool(cited) and check_grounding(claim, [
        labelled(by_id[i]["speaker"], by_id[i]["text"]) for i in cited])[0]
    if grounded:
        said_by = sorted({who(by_id[i]["speaker"]) for i in cited})
        answer, mode = generated, "generated"
        # The question already names whose words these are when it asks about their speaker.
        if not (subject is not None and all(subject.owns(by_id[i]["speaker"]) for i in cited)) \
                and not any(name in generated for name in said_by):
            answer = f"{generated} ({', '.join(said_by)} said so)"
    else:
        # The model's answer is not supported by what it cites, or it says memory holds nothing although a
        # memory close to the question was recalled: say what memory does hold, and whose words it is.
        top = context[0]
        answer, mode, cited = f"Closest memory [{top['id']}]: {labelled(top['speaker'], top['text'])}", "extractive", \
            [top["id"]]
        said_by = [who(top["speaker"])]
    return _result(question, answer, mode, cited, generated, context, subject, said_by=said_by)


def _result(question: str, answer: str, mode: str, cited: list[int], generated: str | None, context: list[Any],
            subject: Subject | None, *, said_by: list[str] | None = None) -> dict:
    context = [c if isinstance(c, dict) else _entry(c) for c in context]
    verdict = {"abstained": "declined", "corrected": "corrected"}.get(mode, "answered")
    return {"question": question, "answer": answer, "abstained": mode == "abstained", "mode": mode,
            "verdict": verdict, "subject": subject.shown if subject else None, "said_by": said_by or [],
            "cited": cited, "generated": generated, "context": context}
