"""Adapters: the real implementations behind Engram's ports (AWS services and local defaults)."""
