"""filescan scanner job: streams one object through the analyzers and writes a JSON report."""
