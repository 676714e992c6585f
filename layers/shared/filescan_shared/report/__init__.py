"""The scan report: its JSON Schema, validation, and the deterministic verdict."""

SCHEMA_VERSION = "1.0"
