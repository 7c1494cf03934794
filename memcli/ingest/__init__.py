"""Turning raw input (text, chat lines, JSONL, JSON) into messages, and messages into memory keys."""
