"""A rule-based scanner for stored text that should not be trusted or kept as is.

Kinds of finding:
- injection: text addressed to an AI agent rather than a record of something — "ignore previous instructions",
  role/system overrides, chat-template control tokens, tool-call payloads, piped shell downloads and destructive
  shell commands, requests to exfiltrate data.
- hidden: characters a reader does not see — zero-width characters, bidirectional overrides, Unicode tag
  characters, terminal escape sequences.
- secret: credentials — private-key blocks, AWS/GitHub/Slack/Google/OpenAI-style keys, JWTs, and
  'password/api key/token: value' assignments.
- pii: e-mail addresses, payment card numbers (Luhn-checked), US social security numbers, IBANs (mod-97 checked),
  international phone numbers.

What it does not catch: paraphrased or translated injections ("pretend the earlier rules never existed"),
instructions split across messages, secrets without a recognisable shape or label, PII in free prose (names,
addresses, birth dates). It is a tripwire, not a guarantee; every finding names its rule so a person can judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_I = re.IGNORECASE


@dataclass(frozen=True)
class Finding:
    kind: str
    rule: str

    def to_json(self) -> dict:
        return {"kind": self.kind, "rule": self.rule}


_PREV = r"(?:all\s+|any\s+|the\s+|your\s+|of\s+)*(?:previous|prior|above|earlier|preceding|former|system)"
_RULES: list[tuple[str, str, re.Pattern]] = [
    ("injection", "ignore-instructions", re.compile(
        rf"\b(?:ignore|disregard|forget|override|bypass)\s+{_PREV}\s+(?:instructions?|prompts?|rules|directions|context|guidelines)"
        # without 'previous': 'ignore all instructions', 'ignore your instructions', 'disregard everything above'
        # ('rules' is left out there: 'the kids ignore all house rules' is a note, not an attack)
        r"|\b(?:ignore|disregard|override|bypass)\s+(?:all|any|your)\s+(?:\w+\s+)?(?:instructions?|prompts?"
        r"|guidelines)\b|\b(?:ignore|disregard)\s+(?:everything|anything)\s+(?:above|before|said\s+before)\b",
        _I)),
    ("injection", "new-instructions", re.compile(
        r"(?:^|\n)\s*(?:new|updated|real)\s+(?:system\s+)?instructions?\s*:", _I)),
    ("injection", "role-override", re.compile(
        r"\byou\s+are\s+now\s+(?:a|an|in|the|DAN|no\s+longer)\b|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|jailbroken|DAN)\b"
        r"|\b(?:enter|enable)\s+(?:developer|god|jailbreak)\s+mode\b", _I)),
    ("injection", "system-prompt", re.compile(
        r"\b(?:reveal|print|show|output|repeat|leak)\s+(?:me\s+)?(?:your|the)\s+(?:system\s+prompt|hidden\s+instructions|initial\s+prompt)", _I)),
    ("injection", "chat-template-token", re.compile(
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>|\[/?INST\]|<</?SYS>>"
        r"|<start_of_turn>|</?(?:system|tool_call|function_call)>", _I)),
    ("injection", "tool-call-payload", re.compile(
        r"\"(?:tool_calls|function_call)\"\s*:|\{\s*\"name\"\s*:\s*\"[^\"]+\"\s*,\s*\"arguments\"\s*:", _I)),
    ("injection", "shell-pipe-download", re.compile(
        r"\b(?:curl|wget)\b[^\n|;]{1,300}\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b", _I)),
    ("injection", "destructive-shell", re.compile(
        r"\brm\s+-(?:rf|fr|r\s+-f|f\s+-r)\s+(?:--no-preserve-root\s+)?(?:/|~|\$HOME|\*)(?:\s|$)|:\(\)\s*\{\s*:\|:&\s*\};:"
        r"|\bmkfs\.\w+\s+/dev/|\bdd\s+if=/dev/(?:zero|random|urandom)\s+of=/dev/", _I)),
    ("injection", "exfiltrate", re.compile(
        r"\b(?:send|post|upload|forward|e-?mail|mail|exfiltrate|leak)\b[^.\n]{0,80}\b(?:memories|conversation|chat history|"
        r"credentials|passwords?|api keys?|secrets?|ssh keys?)\b[^.\n]{0,80}(?:https?://|\bto\s+\S+@\S+)", _I)),
    ("hidden", "zero-width", re.compile("[\u200b\u200c\u200d\u2060\u2062\u2063\u2064\ufeff]")),
    ("hidden", "bidi-override", re.compile("[\u202a-\u202e\u2066-\u2069]")),
    ("hidden", "unicode-tags", re.compile("[\U000e0000-\U000e007f]")),
    ("hidden", "terminal-escape", re.compile(r"\x1b[\[\]PX^_]|\x9b")),
    ("secret", "private-key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("secret", "aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("secret", "github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("secret", "slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("secret", "google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("secret", "openai-style-key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}\b")),
    ("secret", "jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    ("secret", "credential-assignment", re.compile(
        r"\b(?:password|passwd|pwd|passcode|pin|api[_\s-]?key|secret(?:[_\s-]?key)?|access[_\s-]?token|auth[_\s-]?token|token)"
        r"\s*(?:is|=|:)\s*[\"']?(?=[^\s\"']*[0-9!@#$%^&*_\-])[^\s\"']{4,}", _I)),
    ("pii", "email", re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")),
    ("pii", "us-ssn", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")),
    ("pii", "phone", re.compile(r"(?<![\w+])\+\d{1,3}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]?\d{2,4}){2,4}\b")),
]
_CARD = re.compile(r"\b(?:\d[ \-]?){12,18}\d\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def holds_instructions(flags: list[dict] | None) -> bool:
    """A memory flagged as prompt injection: kept and shown, but never given to the generator as a note nor
    accepted as evidence (ask, extract)."""
    return any(f.get("kind") == "injection" for f in flags or [])


def scan(text: str) -> list[Finding]:
    """Findings for one text, one per rule that fires, in rule order."""
    found = [Finding(kind, rule) for kind, rule, pattern in _RULES if pattern.search(text)]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn(digits):
            found.append(Finding("pii", "payment-card"))
            break
    for m in _IBAN.finditer(text):
        if _iban_ok(m.group()):
            found.append(Finding("pii", "iban"))
            break
    return found
