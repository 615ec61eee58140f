"""Text helpers shared by the API and the workers: content hashing, the text that is keyword
indexed, and token counting.

Tokens are counted with the embedding model's own WordPiece tokenizer (all-MiniLM-L6-v2's
`tokenizer.json`, shipped in `engram/adapters/minilm/`, counted by `engram.wordpiece` as
`tokenizers` counts them): exact for that tokenizer, approximate for whichever LLM reads the
text. Counting needs only the tokenizer,
never the model runtime, whichever embedder is configured."""

from __future__ import annotations

import hashlib
import re
import threading
from importlib import resources

from engram.wordpiece import WordPiece

TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class ModelIntegrityError(RuntimeError):
    """A model or tokenizer file is not the one this code was validated with."""


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def indexed_text(title: str | None, content: str, context: str | None = None) -> str:
    """What is keyword-indexed: the title and content, with the context that makes a bare
    message findable (the messages around it) when there are some. The vector is made from
    title and content alone (`search/sync.py`): context dilutes a small model's embedding."""
    return "\n".join(part for part in (title or "", context or "", content) if part)


def context_of(search_text: str | None, title: str | None, content: str) -> str | None:
    """The context `indexed_text` put between this title and content, read back from the
    stored text (None if it holds none, or was not made from them): an edit keeps the
    neighbours a memory was indexed with."""
    head, tail = f"{title}\n" if title else "", f"\n{content}"
    if not search_text or not search_text.startswith(head) or not search_text.endswith(tail):
        return None
    return search_text[len(head) : len(search_text) - len(tail)] or None


# What a neighbour's content may start with that says nothing of its subject: a bracketed
# time stamp ("[1:56 pm on 8 May, 2023] ") and a speaker's label of up to three words
# ("Caroline: "). Every message of a session carries them, so as context they only repeat.
_STAMP = re.compile(r"\[[^\[\]\n]{1,64}\]\s*")
_LABEL = re.compile(r"[^\W\d][\w.'\-]{0,19}(?: [\w.'\-]{1,20}){0,2}:\s+")


def neighbour_text(content: str) -> str:
    """A neighbouring message's or memory's content as context for another's keywords: without
    a leading time stamp and speaker label, which would otherwise be repeated in every
    neighbour's key (a two-person chat's names in all of them: measured on LoCoMo,
    docs/benchmarks.md, "Retrieval"). Content that is nothing else is kept whole."""
    text = content.lstrip()
    for prefix in (_STAMP, _LABEL):
        found = prefix.match(text)
        if found:
            text = text[found.end() :]
    return text or content


def verified(data: bytes, expected: str, what: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(
            f"The {what} has SHA-256 {actual}, but {expected} is expected; "
            "the file is corrupt or a different version. Reinstall it."
        )
    return data


def tokenizer_json() -> str:
    ref = resources.files("engram.adapters") / "minilm" / "tokenizer.json"
    return verified(ref.read_bytes(), TOKENIZER_SHA256, f"tokenizer file {ref}").decode()


_lock = threading.Lock()
_counter: list[WordPiece] = []  # the counting tokenizer, loaded once per process


def _counting_tokenizer() -> WordPiece:
    if not _counter:
        with _lock:
            if not _counter:
                _counter.append(WordPiece(tokenizer_json()))
    return _counter[0]


def count_tokens(text: str) -> int:
    """WordPiece tokens in `text`, without [CLS]/[SEP] and without truncation."""
    return _counting_tokenizer().count(text)
