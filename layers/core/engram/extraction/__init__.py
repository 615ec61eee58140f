"""Extraction: the port that distils a finished session into a summary and typed memories.

`extractor.py` holds the data types and the `Extractor` port; the adapters live in
`engram.adapters` (`heuristic_extractor`: deterministic and offline, the default;
`bedrock_extractor`: an LLM through the Bedrock Converse API). The extract worker owns
what happens to the result (dedup against stored memories, storing, summaries).
"""
