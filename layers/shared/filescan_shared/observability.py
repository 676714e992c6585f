"""Powertools Logger, Tracer and Metrics, configured once for every function.

Service name, namespace and log level come from the ``POWERTOOLS_*`` environment variables that
``template.yaml`` sets globally.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
