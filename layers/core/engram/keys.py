"""Every DynamoDB key of the single table is built here and nowhere else.

Items:
  workspace   PK=WS#<ws>               SK=WS#<ws>
  api key     PK=APIKEY#<sha256>       SK=APIKEY            GSI1: WS#<ws>#APIKEYS / <created>#<key_id>
  session     PK=SESSION#<sid>         SK=SESSION           GSI1: WS#<ws>#SESSIONS / <started>#<sid>
                                                            GSI2: WS#<ws>#AGENT#<agent>#SESSIONS / <started>#<sid>
  event       PK=WS#<ws>#EVENTS        SK=<created>#<evt>   (TTL: the change feed)
Session ids are unique across workspaces (API.md), so the session item is keyed by id alone
and the workspace is checked on read.
"""

from __future__ import annotations


def workspace_key(workspace_id: str) -> dict[str, str]:
    return {"PK": f"WS#{workspace_id}", "SK": f"WS#{workspace_id}"}


def api_key_key(key_hash: str) -> dict[str, str]:
    return {"PK": f"APIKEY#{key_hash}", "SK": "APIKEY"}


def api_keys_by_workspace(workspace_id: str) -> str:
    return f"WS#{workspace_id}#APIKEYS"


def session_key(session_id: str) -> dict[str, str]:
    return {"PK": f"SESSION#{session_id}", "SK": "SESSION"}


def sessions_by_workspace(workspace_id: str) -> str:
    return f"WS#{workspace_id}#SESSIONS"


def sessions_by_agent(workspace_id: str, agent_id: str) -> str:
    return f"WS#{workspace_id}#AGENT#{agent_id}#SESSIONS"


def session_sort(started_at: str, session_id: str) -> str:
    return f"{started_at}#{session_id}"


def events_partition(workspace_id: str) -> str:
    return f"WS#{workspace_id}#EVENTS"


def event_sort(created_at: str, event_id: str) -> str:
    return f"{created_at}#{event_id}"
