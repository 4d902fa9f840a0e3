"""Placeholder: this protocol is being written."""
