"""The Neuroloom dialect: `/neuroloom/api/v1/...` as Neuroloom's memories and sessions
documents describe it and its MCP server (`neuroloom-mcp`) calls it: `Authorization:
Token`, trailing slashes on workspaces and lists, `metadata_json` in session answers,
`narrative` for a memory's text. Tools no seed describes (code graph, documents, SDLC,
access tracking, feedback, exploration) answer 501 with a sentence."""
