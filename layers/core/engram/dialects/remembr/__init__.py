"""The Remembr dialect: `/remembr/api/v1/...` as Remembr's API reference describes it and
its SDK (`remembr`) calls it: `{"success", "data", "request_id"}` envelopes, episodes
(`episode_id`), singular paths, JSON bodies on DELETE, `{"error": {...}}` errors."""
