"""Every DynamoDB key of the single table is built here and nowhere else.

Items:
  workspace   PK=WS#<ws>               SK=WS#<ws>
  api key     PK=APIKEY#<sha256>       SK=APIKEY            GSI1: WS#<ws>#APIKEYS / <created>#<key_id>
  session     PK=SESSION#<sid>         SK=SESSION           GSI1: WS#<ws>#SESSIONS / <started>#<sid>
                                                            GSI2: WS#<ws>#AGENT#<agent>#SESSIONS / <started>#<sid>
                                                            GSI4: MAINT#PURGE#SESSIONS / <restorable_until>#<sid>
                                                                  while soft-deleted (sparse)
  event       PK=WS#<ws>#EVENTS        SK=<created>#<evt>   (TTL: the change feed)
Session ids are unique across workspaces (API.md), so the session item is keyed by id alone
and the workspace is checked on read.
"""

from __future__ import annotations

# The attributes that make up an item's position in each index: what a cursor records.
GSI1_KEY_ATTRS = ("PK", "SK", "GSI1PK", "GSI1SK")
GSI2_KEY_ATTRS = ("PK", "SK", "GSI2PK", "GSI2SK")


def workspace_key(workspace_id: str) -> dict[str, str]:
    return {"PK": f"WS#{workspace_id}", "SK": f"WS#{workspace_id}"}


def api_key_key(key_hash: str) -> dict[str, str]:
    return {"PK": f"APIKEY#{key_hash}", "SK": "APIKEY"}


def api_keys_by_workspace(workspace_id: str) -> str:
    return f"WS#{workspace_id}#APIKEYS"


# api key id  PK=APIKEYID#<key_id>     SK=APIKEYID          → the key's hash (revoke by id)
# user        PK=USER#<user_id>        SK=USER
# email       PK=EMAIL#<email>         SK=EMAIL             → user id; makes emails unique
# refresh     PK=REFRESH#<sha256>      SK=REFRESH           (TTL) one token of a family
# family      PK=TOKENFAMILY#<fid>     SK=TOKENFAMILY       (TTL) revoked as a whole on reuse
def api_key_id_key(key_id: str) -> dict[str, str]:
    return {"PK": f"APIKEYID#{key_id}", "SK": "APIKEYID"}


def user_key(user_id: str) -> dict[str, str]:
    return {"PK": f"USER#{user_id}", "SK": "USER"}


def email_key(email: str) -> dict[str, str]:
    return {"PK": f"EMAIL#{email}", "SK": "EMAIL"}


def refresh_token_key(token_hash: str) -> dict[str, str]:
    return {"PK": f"REFRESH#{token_hash}", "SK": "REFRESH"}


def token_family_key(family_id: str) -> dict[str, str]:
    return {"PK": f"TOKENFAMILY#{family_id}", "SK": "TOKENFAMILY"}


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


# webhook     PK=WS#<ws>#WEBHOOKS                      SK=WEBHOOK#<wh>   (one Query per publish)
# delivery    PK=WS#<ws>#WEBHOOK#<wh>#DELIVERIES       SK=DELIVERY#<dlv> (TTL; ids sort by time)
def webhooks_partition(workspace_id: str) -> str:
    return f"WS#{workspace_id}#WEBHOOKS"


def webhook_key(workspace_id: str, webhook_id: str) -> dict[str, str]:
    return {"PK": webhooks_partition(workspace_id), "SK": f"WEBHOOK#{webhook_id}"}


def deliveries_partition(workspace_id: str, webhook_id: str) -> str:
    return f"WS#{workspace_id}#WEBHOOK#{webhook_id}#DELIVERIES"


def delivery_key(workspace_id: str, webhook_id: str, delivery_id: str) -> dict[str, str]:
    return {"PK": deliveries_partition(workspace_id, webhook_id), "SK": f"DELIVERY#{delivery_id}"}


# memory      PK=MEMORY#<mid>          SK=MEMORY
#             GSI1: WS#<ws>#MEMORIES / <created>#<mid>                 the workspace's list
#             GSI2: WS#<ws>#SESSION#<sid>#MEMORIES / <created>#<mid>   a session's memories
#             GSI3: WS#<ws>#CHANGES / <changed>#<mid>                  diff by period
#             GSI4: MAINT#PENDING / <created>#<mid> while embedding is pending,
#                   MAINT#PURGE / <restorable_until>#<mid> while soft-deleted (sparse)
#             GSI5: WS#<ws>#UNINDEXED / <changed>#<mid> while the search index does not
#                   hold its current state (sparse; search reads it: read-your-writes)
MAINT_PENDING = "MAINT#PENDING"
MAINT_PURGE = "MAINT#PURGE"
MAINT_PURGE_SESSIONS = "MAINT#PURGE#SESSIONS"  # soft-deleted sessions, same stamp


def memory_key(memory_id: str) -> dict[str, str]:
    return {"PK": f"MEMORY#{memory_id}", "SK": "MEMORY"}


def memories_by_workspace(workspace_id: str) -> str:
    return f"WS#{workspace_id}#MEMORIES"


def memories_by_session(workspace_id: str, session_id: str) -> str:
    return f"WS#{workspace_id}#SESSION#{session_id}#MEMORIES"


def memory_changes(workspace_id: str) -> str:
    return f"WS#{workspace_id}#CHANGES"


# dedup claim PK=DEDUP#<ws>#<dedup_key>  SK=DEDUP  → the memory that holds the key; written in
#             the memory's own transaction, so one key never names two live memories
def dedup_key(workspace_id: str, dedup: str) -> dict[str, str]:
    return {"PK": f"DEDUP#{workspace_id}#{dedup}", "SK": "DEDUP"}


def memories_unindexed(workspace_id: str) -> str:
    return f"WS#{workspace_id}#UNINDEXED"


def unindexed(workspace_id: str, moment: str, memory_id: str) -> dict[str, str]:
    """The GSI5 attributes that put a memory on its workspace's not-yet-indexed list."""
    return {"GSI5PK": memories_unindexed(workspace_id), "GSI5SK": stamped(moment, memory_id)}


UNINDEXED_ATTRS = ("GSI5PK", "GSI5SK")


# filter entry PK=WS#<ws>#MEMBY#<dimension>#<value>  SK=<created>#<mid>
#             one per tag, agent, user, event type and memory type of a memory, copying the
#             fields lists filter on: a filtered list is a Query of one entry partition
def memory_entries(workspace_id: str, dimension: str, value: str) -> str:
    return f"WS#{workspace_id}#MEMBY#{dimension}#{value}"


# agent       PK=WS#<ws>#AGENTS                SK=AGENT#<agent_id>   the registry
# counters    PK=WS#<ws>#AGENT#<agent_id>      SK=COUNTS   live memories, by type (ADD on write)
def agents_partition(workspace_id: str) -> str:
    return f"WS#{workspace_id}#AGENTS"


def agent_key(workspace_id: str, agent_id: str) -> dict[str, str]:
    return {"PK": agents_partition(workspace_id), "SK": f"AGENT#{agent_id}"}


def agent_counts_key(workspace_id: str, agent_id: str) -> dict[str, str]:
    return {"PK": f"WS#{workspace_id}#AGENT#{agent_id}", "SK": "COUNTS"}


def stamped(moment: str, item_id: str) -> str:
    """Sort key that orders by an ISO time, ties broken by id."""
    return f"{moment}#{item_id}"


# checkpoint  PK=SESSION#<sid>         SK=CHECKPOINT#<checkpoint_id>   (ids sort by time)
def checkpoint_key(session_id: str, checkpoint_id: str) -> dict[str, str]:
    return {"PK": f"SESSION#{session_id}", "SK": f"CHECKPOINT#{checkpoint_id}"}


CHECKPOINT_PREFIX = "CHECKPOINT#"
