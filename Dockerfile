# openmux serve in a container. Untested in this repository's CI (no container runtime
# there); see "OpenAI-compatible server" in the README.
FROM python:3.12-slim

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY openmux ./openmux
RUN pip install --no-cache-dir ".[server,redis]" \
    && useradd --create-home --uid 10001 openmux \
    && mkdir /state && chown openmux /state

USER openmux
# Health, quotas and the cache live here; replicas sharing this volume share them.
ENV OPENMUX_STATE_DIR=/state
VOLUME /state
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=3)"

# 0.0.0.0 inside the container: openmux refuses to start unless OPENMUX_SERVER_KEYS is set.
ENTRYPOINT ["openmux", "serve", "--host", "0.0.0.0", "--port", "8080"]
