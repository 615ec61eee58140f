"""The Memtrace dialect: `/memtrace/api/v1/...` as Memtrace's sessions document describes it
and its SDK (`memtrace-sdk`) calls it: bare objects, `x-api-key`, `POST /search`, a session
closed by `PUT {"status": "closed"}`, `{"error": "..."}` errors."""
