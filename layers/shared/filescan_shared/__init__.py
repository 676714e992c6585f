"""Code shared by the filescan Lambda functions and the scanner job.

Deployed as the ``SharedLayer`` Lambda layer (``layers/shared``) and copied into the scanner image.
"""
