"""Scanner configuration from the environment (the Batch job definition sets these)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from filescan_scanner.analyzers.base import ScanLimits

_DEFAULTS = ScanLimits()


class ScannerSettings(BaseSettings):
    """Environment configuration. Limits use the ``FILESCAN_`` prefix (``FILESCAN_MAX_DEPTH``...)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    reports_bucket: str | None = Field(default=None, alias="REPORTS_BUCKET")
    reports_prefix: str = Field(default="reports/", alias="REPORTS_PREFIX")
    work_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()), alias="FILESCAN_WORK_DIR")
    extra_rules_dir: Path | None = Field(default=None, alias="EXTRA_RULES_DIR")
    extra_rules_s3_uri: str | None = Field(default=None, alias="EXTRA_RULES_S3_URI")
    download_concurrency: int = Field(default=8, ge=1, le=64, alias="FILESCAN_DOWNLOAD_CONCURRENCY")
    download_part_bytes: int = Field(
        default=16 * 1024**2, ge=5 * 1024**2, alias="FILESCAN_DOWNLOAD_PART_BYTES"
    )
    head_rules_bytes: int = Field(default=16 * 1024**2, ge=4096, alias="FILESCAN_HEAD_RULES_BYTES")
    yara_overlap_bytes: int = Field(default=64 * 1024, ge=1024, alias="FILESCAN_YARA_OVERLAP_BYTES")

    max_depth: int = Field(default=_DEFAULTS.max_depth, ge=0, alias="FILESCAN_MAX_DEPTH")
    max_members: int = Field(default=_DEFAULTS.max_members, ge=0, alias="FILESCAN_MAX_MEMBERS")
    max_total_member_bytes: int = Field(
        default=_DEFAULTS.max_total_member_bytes, ge=0, alias="FILESCAN_MAX_TOTAL_MEMBER_BYTES"
    )
    max_member_bytes: int = Field(default=_DEFAULTS.max_member_bytes, ge=0, alias="FILESCAN_MAX_MEMBER_BYTES")
    max_compression_ratio: float = Field(
        default=_DEFAULTS.max_compression_ratio, gt=0, alias="FILESCAN_MAX_COMPRESSION_RATIO"
    )
    max_matches_per_rule: int = Field(
        default=_DEFAULTS.max_matches_per_rule, ge=1, alias="FILESCAN_MAX_MATCHES_PER_RULE"
    )
    office_max_bytes: int = Field(default=_DEFAULTS.office_max_bytes, ge=0, alias="FILESCAN_OFFICE_MAX_BYTES")
    pdf_max_bytes: int = Field(default=_DEFAULTS.pdf_max_bytes, ge=0, alias="FILESCAN_PDF_MAX_BYTES")
    fuzzy_hash_max_bytes: int = Field(
        default=_DEFAULTS.fuzzy_hash_max_bytes, ge=0, alias="FILESCAN_FUZZY_HASH_MAX_BYTES"
    )
    chunk_bytes: int = Field(default=_DEFAULTS.chunk_bytes, ge=4096, alias="FILESCAN_CHUNK_BYTES")

    def limits(self) -> ScanLimits:
        """The ``ScanLimits`` these settings describe."""
        return ScanLimits(
            max_depth=self.max_depth,
            max_members=self.max_members,
            max_total_member_bytes=self.max_total_member_bytes,
            max_member_bytes=self.max_member_bytes,
            max_compression_ratio=self.max_compression_ratio,
            max_matches_per_rule=self.max_matches_per_rule,
            office_max_bytes=self.office_max_bytes,
            pdf_max_bytes=self.pdf_max_bytes,
            fuzzy_hash_max_bytes=self.fuzzy_hash_max_bytes,
            chunk_bytes=self.chunk_bytes,
        )
