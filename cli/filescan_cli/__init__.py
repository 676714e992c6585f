"""The filescan command line: upload, follow and query scans on a deployed or local stack."""
