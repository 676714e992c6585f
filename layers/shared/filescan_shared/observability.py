"""Powertools Logger, Tracer and Metrics, configured once for every function.

Service name, namespace and log level come from the ``POWERTOOLS_*`` environment variables that
``template.yaml`` sets globally.
"""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# Only botocore is patched (a subsegment per AWS call). The default patches every library the X-Ray
# SDK knows, which imports requests, sqlite3 and others we never use: about 30 ms of cold start.
tracer = Tracer(patch_modules=("botocore",))
# The namespace falls back to filescan's own, so importing this module before the environment is set
# (tests, tools) cannot leave a Metrics object that fails at flush time.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "filescan"))
