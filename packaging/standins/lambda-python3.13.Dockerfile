# Stand-in for the AWS Lambda Python 3.13 base image (public.ecr.aws/lambda/python:3.13), built only
# where that image cannot be pulled (scripts/base-images). It reproduces what `sam local invoke`
# relies on, not the image itself: Debian trixie's python3.13 (the real image is Amazon Linux 2023
# with its own CPython build), linked at /var/lang/bin; the runtime interface client (awslambdaric)
# under /var/runtime with a /var/runtime/bootstrap; /var/task as the working directory.
# SAM CLI adds its own runtime interface emulator and entrypoint on top. See docs/containers.md.
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE}
ARG AWSLAMBDARIC_VERSION=4.2.2
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.13 python3-pip \
 && mkdir -p /var/lang/bin /var/runtime /var/task /opt \
 && ln -s /usr/bin/python3.13 /var/lang/bin/python3.13 \
 && ln -s python3.13 /var/lang/bin/python3 && ln -s python3.13 /var/lang/bin/python \
 && python3.13 -m pip install --no-cache-dir --break-system-packages --target /var/runtime \
        "awslambdaric==${AWSLAMBDARIC_VERSION}" \
 && apt-get purge -y python3-pip && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
# The search path Lambda's Python runtime documents: function code, then layer paths, then runtime.
# https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-searchpath
RUN printf '%s\n' '#!/bin/sh' \
      'export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime${PYTHONPATH:+:$PYTHONPATH}"' \
      'exec /var/lang/bin/python3.13 -m awslambdaric "$_HANDLER"' > /var/runtime/bootstrap \
 && chmod 0755 /var/runtime/bootstrap
ENV LANG=C.UTF-8 TZ=:/etc/localtime PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin \
    LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime
WORKDIR /var/task
ENTRYPOINT ["/var/runtime/bootstrap"]
