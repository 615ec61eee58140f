"""Candidate ranking signals for hybrid search (issue 21), checked leave-one-conversation-out
on LoCoMo dev in process: `bench/fusion_fit.py`'s replica and fit, with extra features.

Each signal named with --signals is added to the features the logistic regression fits
(fusion_fit.FEATURES) and to the fused value with its fitted weight; the search itself is
the real SearchService over the local index, with `Fused` and `fuse` swapped for the
study's subclass and wrapper (fusion.py is not changed). --mmr adds a diversity rerank
after fusion, its lambda chosen with the session-support share on the four training
conversations of each fold. Prints the five held-out recall@10 figures and their mean
(4 decimals), then the weights fitted on all five.

    .venv/bin/python bench/signals_fit.py [--protocol messages|memories] [--cache DIR]
        [--signals nb_max,stems_light,...] [--mmr 0,0.1,0.25,0.5 [--mmr-depth 20]]

Signals (cosines are the semantic leg's query vector against stored vectors, z-scored
with the semantic leg's own mean and deviation over its slots, as `calibrate` scales it):
  own          the candidate's own cosine (a keyword-only candidate gets its real value,
               not the leg's lowest); own_kw: the same, for keyword-only candidates only
  nb_max       max over its neighbours' cosines (the two before and the one after it in
               its session: the memories its keyword key holds); nb_mean: their mean;
               prev1, next1: the one before, the one after; nb_max_gain: max(0, nb_max - own)
  sess_top3    mean of the top three cosines among the candidates of its session;
  sess_all3/5  ... among all its session's memories; sess_cent: the session centroid's
  stems_porter share of the query's content words that the candidate's own text holds
               after Snowball stemming (PyStemmer, a dev dependency: not in the layer);
  stems_light  the same with one inflectional suffix off (pure Python);
  prefix5      ... with a 5-letter prefix match

Held out on 2026-12-05 on 8dd1959 (before the soft word match; load 2-5), messages /
memories protocol; without any signal 0.8048 / 0.8093: own 0.8059; own_kw 0.8039; nb_max
0.8084 / 0.8088 (fitted weight about -0.02: the rise is the refit's shuffle, not the
signal); nb_mean 0.8049; prev1 + next1 0.8029; nb_max_gain 0.8041; sess_top3 0.8034;
sess_all3 0.8017; sess_all5 0.8063; sess_cent 0.8023; stems_porter 0.8089; stems_light
0.8082 / 0.8092; prefix5 0.8078; a light stemmer that also drops a final e and undoubles
0.8077 / 0.8072; stems_light with nb_max 0.8048; MMR over the top 20, lambda among 0, 0.1,
0.25, 0.5 (0.25 chosen in two folds) 0.8031. None kept: only nb_max and stems_light pass
+0.003 on messages, they do not stack, and stems_light takes over the words signal (fitted
1.84 against words -0.2) rather than adding to it: with weights refitted on all five
conversations it scores 0.8035 in force on messages against 0.8066, and 0.8067 against
0.8073 fitted on messages itself. On 224d8b8 (with the soft word match; load 2.5-4.8),
messages: none 0.8088, stems_light 0.8106, nb_max 0.8103 (fitted weight -0.007).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import candidate
import fusion_fit as ff
import numpy as np
from metrics import DATA, load

TEXT_SIGNALS = ("stems_porter", "stems_light", "prefix5")
VECTOR_SIGNALS = (
    "own",
    "own_kw",
    "nb_max",
    "nb_mean",
    "prev1",
    "next1",
    "nb_max_gain",
    "sess_top3",
    "sess_all3",
    "sess_all5",
    "sess_cent",
)
BEFORE, AFTER = 2, 1  # the neighbours a key holds (memories/service.py CONTEXT_BEFORE/AFTER)


class Corpus:
    """What the study's signals read: every stored memory's unit vector, its session and
    its place there (memory ids sort in session order in the replica), the query vectors."""

    def __init__(self, replica: ff.Replica) -> None:
        self.embedder = replica.embedder
        self.vector: dict[str, np.ndarray] = {}
        for shard in replica.index._shards.values():
            for memory_id, row in shard.row_of.items():
                self.vector[memory_id] = shard.vectors[row].copy()
        self.session: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}
        self.place: dict[str, int] = {}
        for memory_id in sorted(replica.repo.memories):
            session = replica.repo.memories[memory_id].session_id
            self.session[memory_id] = session
            self.place[memory_id] = len(self.members.setdefault(session, []))
            self.members[session].append(memory_id)
        self._queries: dict[str, np.ndarray] = {}

    def query_vector(self, text: str) -> np.ndarray:
        if text not in self._queries:
            vector = self.embedder.embed([text])[0].astype(np.float32)
            self._queries[text] = vector / np.linalg.norm(vector)
        return self._queries[text]


def light_stem(word: str) -> str:
    for suffix in ("ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
    return word


def _porter() -> Callable[[str], str]:
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    return stemmer.stemWord  # type: ignore[no-any-return]


def _prefix(word: str) -> str:
    return word[:5]


def study_class(corpus: Corpus, names: Sequence[str], weights: dict[str, float]) -> type:
    """A Fused whose signals() and analysis() add the named signals (weights by name)."""
    from engram.search.fusion import Fused, content_words, semantic_query

    stemmers = {"stems_porter": _porter(), "stems_light": light_stem, "prefix5": _prefix}

    class StudyFused(Fused):
        def __init__(self, legs: Mapping[str, Sequence[Any]], slots: int, query: str) -> None:
            super().__init__(legs, slots, query)
            self._extra: dict[str, dict[str, float]] | None = None
            if self.hybrid:
                self._query_vector = corpus.query_vector(semantic_query(query))
                pool = [h.score for h in legs["semantic"][:slots]]
                pool += [0.0] * max(0, slots - len(pool))
                self._scale = (float(np.mean(pool)), max(1e-9, float(np.std(pool))))

        def _z(self, memory_id: str) -> float:
            cosine = float(corpus.vector[memory_id] @ self._query_vector)
            return (cosine - self._scale[0]) / self._scale[1]

        def _vector_signals(self) -> dict[str, dict[str, float]]:
            if self._extra is None:
                self._extra = vector_signals(self, corpus)
            return self._extra

        def signals(self, memory_id: str, text: str) -> dict[str, float]:
            found = super().signals(memory_id, text)
            if not self.hybrid:
                return found
            for name in names:
                if name in stemmers:
                    stem = stemmers[name]
                    wanted = {stem(w) for w in self._words}
                    own = {stem(w) for w in content_words(text)}
                    found[name] = len(wanted & own) / len(wanted) if wanted else 0.0
                else:
                    found[name] = self._vector_signals()[memory_id][name]
            return found

        def analysis(self, memory_id: str, text: str) -> float:
            value = super().analysis(memory_id, text)
            if self.hybrid and names:
                found = self.signals(memory_id, text)
                value += sum(weights.get(name, 0.0) * found[name] for name in names)
            return value

    return StudyFused


def vector_signals(fused: Any, corpus: Corpus) -> dict[str, dict[str, float]]:
    """Every VECTOR_SIGNALS value of every candidate of one search."""
    candidates = fused.candidates()
    own = {m: fused._z(m) for m in candidates}
    by_session: dict[str, list[float]] = {}
    for m in candidates:
        by_session.setdefault(corpus.session[m], []).append(own[m])
    whole: dict[str, tuple[float, float, float]] = {}
    out = {}
    for m in candidates:
        session, at = corpus.session[m], corpus.place[m]
        members = corpus.members[session]
        near = members[max(0, at - BEFORE) : at] + members[at + 1 : at + 1 + AFTER]
        near_z = [fused._z(n) for n in near] or [own[m]]
        if session not in whole:
            ranked = sorted((fused._z(n) for n in members), reverse=True)
            centroid = np.mean([corpus.vector[n] for n in members], axis=0)
            centroid_cosine = float(centroid @ fused._query_vector) / float(
                np.linalg.norm(centroid)
            )
            whole[session] = (
                float(np.mean(ranked[:3])),
                float(np.mean(ranked[:5])),
                (centroid_cosine - fused._scale[0]) / fused._scale[1],
            )
        found_semantic = m in fused._found.get("semantic", ())
        out[m] = {
            "own": own[m],
            "own_kw": 0.0 if found_semantic else own[m],
            "nb_max": max(near_z),
            "nb_mean": float(np.mean(near_z)),
            "prev1": fused._z(members[at - 1]) if at > 0 else own[m],
            "next1": fused._z(members[at + 1]) if at + 1 < len(members) else own[m],
            "nb_max_gain": max(0.0, max(near_z) - own[m]),
            "sess_top3": float(np.mean(sorted(by_session[session], reverse=True)[:3])),
            "sess_all3": whole[session][0],
            "sess_all5": whole[session][1],
            "sess_cent": whole[session][2],
        }
    return out


def diversified(corpus: Corpus, ranked: list[Any], lam: float, depth: int) -> list[Any]:
    """MMR over the first `depth` results: each next pick maximises its fused value less
    `lam` x its highest cosine with one already picked."""
    head, tail = ranked[:depth], ranked[depth:]
    if lam <= 0 or len(head) < 2:
        return ranked
    values = [float(np.log(s.score / (1 - s.score))) if 0 < s.score < 1 else 0.0 for s in head]
    vectors = np.stack([corpus.vector[s.memory.memory_id] for s in head])
    similar = vectors @ vectors.T
    picked: list[int] = []
    left = list(range(len(head)))
    while left:
        penalty = similar[np.ix_(left, picked)].max(axis=1) if picked else np.zeros(len(left))
        gains = [values[i] - lam * p for i, p in zip(left, penalty, strict=True)]
        best = left[int(np.argmax(gains))]
        picked.append(best)
        left.remove(best)
    return [head[i] for i in picked] + tail


@contextmanager
def studied(
    corpus: Corpus, names: Sequence[str], weights: dict[str, float], mmr: tuple[float, int]
) -> Iterator[None]:
    """fusion.Fused, service.Fused and service.fuse swapped for the block."""
    import engram.search.fusion as fusion
    import engram.search.service as service

    saved = (fusion.Fused, service.Fused, service.fuse)
    fused_class = study_class(corpus, names, weights)
    plain_fuse = service.fuse

    def fuse(memories: Any, fused: Any, legs_weights: Any, recency: Any) -> list[Any]:
        ranked = plain_fuse(memories, fused, legs_weights, recency)
        return diversified(corpus, ranked, *mmr) if fused.hybrid else ranked

    fusion.Fused = service.Fused = fused_class  # type: ignore[misc]
    service.fuse = fuse
    try:
        yield
    finally:
        fusion.Fused, service.Fused, service.fuse = saved  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="keep vectors here")
    parser.add_argument("--protocol", choices=("memories", "messages"), default="messages")
    parser.add_argument("--signals", default="", help="comma-separated, of the docstring's")
    parser.add_argument("--mmr", default="0", help="MMR lambdas to choose among")
    parser.add_argument("--mmr-depth", type=int, default=20)
    parser.add_argument("--data", type=Path, default=DATA)
    candidate.add_arguments(parser)
    args = parser.parse_args()
    names = [s for s in args.signals.split(",") if s]
    unknown = set(names) - set(TEXT_SIGNALS) - set(VECTOR_SIGNALS)
    if unknown:
        parser.error(f"unknown signals: {', '.join(sorted(unknown))}")
    lambdas = [float(v) for v in args.mmr.split(",")]
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    from engram.search.fusion import semantic_query

    conversations = load(args.data, None)
    questions = {qa["question"] for c in conversations for qa in c.questions}
    embedder = ff.CachedEmbedder(
        candidate.from_arguments(args),
        args.query_prefix,
        frozenset(questions | {semantic_query(q) for q in questions}),
    )
    replica = ff.build(conversations, embedder, args.cache, args.protocol)
    from engram.search.meanings import WordMeanings

    ff.MEANINGS = WordMeanings()  # the soft word match's word vectors, as fusion_fit's run
    corpus = Corpus(replica)
    ff.FEATURES = (*ff.FEATURES, *names)
    weights: dict[str, float] = {}

    def recall(convs: list[Any], fit: dict[str, float], share: float, lam: float) -> float:
        weights.clear()
        weights.update({n: fit[n] for n in names})
        with (
            studied(corpus, names, weights, (lam, args.mmr_depth)),
            ff.weights_in_force(fit, share),
        ):
            return ff.mean_recall(ff.scored(replica, convs))

    print(f"{args.protocol}: signals {names or 'none'}, MMR lambdas {lambdas}")
    with ff.nothing_pending(), studied(corpus, names, weights, (0.0, args.mmr_depth)):
        rows = {c.sample_id: ff.features(replica, c, 40) for c in conversations}
    folds = []
    with ff.nothing_pending():
        for held in conversations:
            train = [c for c in conversations if c is not held]
            fit = ff.fit([r for c in train for r in rows[c.sample_id]])
            choices = [(share, lam) for lam in lambdas for share in ff.SHARES]
            share, lam = max(choices, key=lambda c: recall(train, fit, *c))
            folds.append(recall([held], fit, share, lam))
            chosen = {n: fit[n] for n in names}
            print(f"| {held.sample_id} | {chosen} | {share} | {lam} | {folds[-1]:.4f} |")
    print(f"\nLeave-one-conversation-out mean hybrid recall@10: **{statistics.mean(folds):.4f}**")
    fit = ff.fit([r for c in conversations for r in rows[c.sample_id]])
    print(f"fit on all five: {fit}")


if __name__ == "__main__":
    main()
