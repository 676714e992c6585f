"""Scanner engines: the catalogue (what each engine is and how to read it) and their normalised results.

An engine is a container image, a command template, resources, a per-attempt timeout, the exit codes
that mean "unscannable" and how to read its output. filescan's own scanner is one engine; users add
more in ``engines/catalogue.yaml`` (configuration reviewed like code). See ``docs/engines.md``.
"""
