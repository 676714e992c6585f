"""filescan's latency and cost model (``make model``) and the right-sizing report (``make rightsizing``).

Not production code: planning tools that import the pipeline's own routing (``filescan_shared``) and
replay an upload mix through it with AWS's documented limits and list prices.
"""
