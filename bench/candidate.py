"""A candidate embedding model to compare with the bundled MiniLM (issue 21): a BERT-family
ONNX file that reads the bundled tokenizer's vocabulary (uncased WordPiece, 30,522 tokens:
bge-small-en, e5-small, MiniLM...), with its own pooling and the prefix it wants before a
query. Run in the same calls of similar lengths as `LocalEmbedder`, so `bench/embedder.py`
compares speed fairly and `bench/fusion_fit.py` recall. Not a package: the scripts import
it from their own folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

POOLINGS = ("mean", "cls")


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="an ONNX file to measure instead of the bundled MiniLM (its output: "
        "last_hidden_state)",
    )
    parser.add_argument("--pooling", choices=POOLINGS, default="mean", help="for --model")
    parser.add_argument(
        "--query-prefix",
        default="",
        help="for --model: put before each query, e.g. 'query: ' (e5) or bge's instruction",
    )


def from_arguments(args: Any, threads: int = 2) -> Any:
    """The bundled MiniLM, or --model's file. Imports the model code: bench/embedder.py times
    the load from before this call."""
    if args.model is not None:
        return OnnxModel(args.model, args.pooling, threads)
    from engram.adapters.local_embedder import LocalEmbedder

    return LocalEmbedder(threads=threads)


class OnnxModel:
    """Another ONNX file and pooling in LocalEmbedder's tokenizer and call plan."""

    def __init__(self, path: Path, pooling: str, threads: int = 2) -> None:
        from engram.adapters.local_embedder import LocalEmbedder

        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}.")
        self.path, self.pooling, self.threads = path, pooling, threads
        self.name = f"candidate:{path.parent.name}/{path.name}"
        self.plan = LocalEmbedder(threads=threads)  # its calls of similar lengths
        self.batch_size, self.token_budget = self.plan.batch_size, self.plan.token_budget
        self._session: Any = None
        self._tokenizer: Any = None

    @property
    def dimension(self) -> int:  # the file's, known once it is loaded
        self.load()
        return int(self._session.get_outputs()[0].shape[-1])

    def load(self) -> None:
        if self._session is not None:
            return
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort

        from engram.adapters.local_embedder import _model_tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = _model_tokenizer()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        from engram.adapters.local_embedder import _mean_pool, _padded
        from engram.search.embedder import check_texts, normalise

        self.load()
        texts = check_texts(texts)
        ids = [e.ids for e in self._tokenizer.encode_batch(texts)]
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for group in self.plan._groups(ids):
            inputs, mask = _padded([ids[i] for i in group])
            (hidden,) = self._session.run(["last_hidden_state"], inputs)
            pooled = hidden[:, 0] if self.pooling == "cls" else _mean_pool(hidden, mask)
            vectors[group] = normalise(pooled)
        return vectors
