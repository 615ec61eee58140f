"""The agent-sessions dialect: `/agent-sessions/api/sessions...` as the agent-sessions
seed describes it (`id`, `data`, `last_active`, `POST /:id/message`)."""
