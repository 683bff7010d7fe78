"""Moved to bot.accounts (password hashing belongs to accounts); kept so that older
imports (``from bot._passwords import hash_password``) keep working."""

from __future__ import annotations

from .accounts import hash_password, verify_password

__all__ = ["hash_password", "verify_password"]
