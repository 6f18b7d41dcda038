"""Readers of published dataset layouts."""
