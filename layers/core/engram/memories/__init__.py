"""Memories: what agents store and search; DynamoDB holds them, the index derives from them."""
