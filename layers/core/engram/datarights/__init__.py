"""Data rights: export a workspace's memories; forget a user."""
