"""Context: the LLM-ready block an agent fetches at the start of a session."""
