"""Accounts: users, passwords, access tokens (JWT) and rotating refresh tokens."""
