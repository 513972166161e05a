# syntax=docker/dockerfile:1
# hireflow's images: one build, one target per component. Each target's CMD is what
# tests/test_deploy_entrypoints.py runs as a plain process, so the commands are known to work.
#
#   docker build --target workers        -t hireflow/workers .
#   docker build --target webapp         -t hireflow/webapp .
#   docker build --target deploy-models  -t hireflow/deploy-models .
#   docker build --target payment-sandbox -t hireflow/payment-sandbox .
#   docker build --target mail-capture   -t hireflow/mail-capture .
#
# docker-compose.yml builds them all; production pins the base image by digest.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    HIREFLOW_DATA_DIR=/var/lib/hireflow \
    HIREFLOW_FILES_DIR=/var/lib/hireflow/files \
    HIREFLOW_LOG_FORMAT=json
WORKDIR /app
# Dependencies first, from pyproject.toml's pinned lists at constraints.txt's versions, so a
# code change reuses this layer. urllib3-future (caldav's niquests needs it) is built with
# URLLIB3_NO_OVERRIDE, so it does not replace urllib3 under requests and boto3 (see Makefile).
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres'] + p['optional-dependencies']['s3']))" > /tmp/requirements.txt \
 && URLLIB3_NO_OVERRIDE=1 pip install --no-cache-dir --no-binary urllib3-future -c constraints.txt -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt constraints.txt
COPY hireflow ./hireflow
COPY job_workers ./job_workers
COPY webapp ./webapp
COPY bpmn ./bpmn
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent hireflow \
 && mkdir -p /var/lib/hireflow/files \
 && chown -R hireflow:hireflow /var/lib/hireflow
USER 10001:10001
VOLUME ["/var/lib/hireflow"]

FROM base AS workers
ENV HIREFLOW_WORKER_STATUS_HOST=0.0.0.0 \
    HIREFLOW_WORKER_STATUS_PORT=9464
EXPOSE 9464
# The supervisor gives SIGTERM'd workers 30 s to finish their jobs.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-m", "hireflow.healthcheck", "http://127.0.0.1:9464/healthz"]
CMD ["python", "-m", "job_workers"]

FROM base AS webapp
ENV HIREFLOW_WEB_HOST=0.0.0.0 \
    HIREFLOW_WEB_PORT=5000 \
    HIREFLOW_WEB_METRICS_PORT=9465
EXPOSE 5000 9465
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-m", "hireflow.healthcheck", "http://127.0.0.1:5000/healthz"]
CMD ["python", "-m", "webapp"]

FROM base AS deploy-models
CMD ["python", "-m", "hireflow.deploy_models", "--wait", "600"]

FROM base AS payment-sandbox
ENV HIREFLOW_SANDBOX_HOST=0.0.0.0
EXPOSE 8101
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-m", "hireflow.healthcheck", "http://127.0.0.1:8101/healthz"]
CMD ["python", "-m", "hireflow.sandboxes.payments", "--port", "8101"]

FROM base AS mail-capture
ENV HIREFLOW_SANDBOX_HOST=0.0.0.0
EXPOSE 8102
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-m", "hireflow.healthcheck", "http://127.0.0.1:8102/healthz"]
CMD ["python", "-m", "hireflow.sandboxes.mail_capture", "--port", "8102"]
