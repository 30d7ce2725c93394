# The doseledger image: the API (`doseledger serve`) and the projector (`doseledger project`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# The serving set from the lock (hash-checked), in a layer of its own: a code change rebuilds
# only the layers after it.
COPY requirements/serve.txt requirements/serve.txt
RUN pip install --require-hashes --no-deps -r requirements/serve.txt
COPY . .
RUN pip install --no-deps . && pip check && useradd --system --home /app doseledger \
 && mkdir -p /app/var && chown doseledger /app/var \
 && mkdir -p -m 700 /var/lib/doseledger/secrets && chown doseledger /var/lib/doseledger/secrets \
 && mkdir -p /var/lib/doseledger/anchors && chown doseledger /var/lib/doseledger/anchors
# /app/var: the embedded store, when no URL is given. /var/lib/doseledger/secrets: the deployment's
# secret keys (DOSELEDGER_SECRETS_DIR), a volume of its own, backed up apart from the database.
# /var/lib/doseledger/anchors: the signed anchors (DOSELEDGER_ANCHOR_DIR), kept apart likewise.
USER doseledger

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["doseledger", "serve", "--host", "0.0.0.0", "--port", "8000"]
