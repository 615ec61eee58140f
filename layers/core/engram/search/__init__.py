"""Search: the embedder and search-index ports and the hybrid search service."""
