"""The reference semantics of the search filters on one document, without any index: the
local index applies them (vectorising the scalar ones), the OpenSearch query builders mirror
them, and search applies them to the memories the index does not hold yet (read-your-writes,
engram.search.pending). Time ranges are applied by each caller on created_at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engram.search.index import IndexDocument, SearchFilters, metadata_text


def tag_filter_ok(
    tags: frozenset[str], keys: frozenset[str], key: str, op: str, value: Any
) -> bool:
    if op == "eq":
        return f"{key}:{value}" in tags
    if op == "neq":
        return f"{key}:{value}" not in tags
    if op == "exists":
        return key in keys
    prefix = f"{key}:{value}"
    return any(t.startswith(prefix) for t in tags)


def metadata_value(metadata: Mapping[str, Any], key: str) -> Any:
    """A metadata value by key, or by dotted path into nested objects (as flat_object)."""
    if key in metadata:
        return metadata[key]
    node: Any = metadata
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def metadata_ok(metadata: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    for key, value in wanted.items():
        found = metadata_value(metadata, key)
        values = found if isinstance(found, list) else [found]
        if metadata_text(value) not in {metadata_text(v) for v in values if v is not None}:
            return False
    return True


def matches(
    doc: IndexDocument, tags: frozenset[str], keys: frozenset[str], f: SearchFilters
) -> bool:
    """Every non-time filter for one document: the reference semantics. `_scope` applies the
    scalar ones and time ranges vectorised over a shard's columns, and `_rest_ok` the rest."""
    if f.session_id is not None and doc.session_id != f.session_id:
        return False
    if f.memory_types is not None and doc.memory_type not in f.memory_types:
        return False
    if f.role is not None and doc.role != f.role:
        return False
    if f.user_id is not None and doc.user_id != f.user_id:
        return False
    if f.agent_id is not None and doc.agent_id != f.agent_id:
        return False
    if any(t not in tags for t in f.tags):
        return False
    if not all(tag_filter_ok(tags, keys, t.key, t.op, t.value) for t in f.tag_filters):
        return False
    return metadata_ok(doc.metadata, f.metadata) if f.metadata else True
