# GPU Advisor image: slim Python, dependencies in a cached layer, code last, non-root.
#   docker build -t gpu-advisor .                              # CPU JAX (probes run on the CPU)
#   docker build --build-arg JAX_VARIANT=cuda12 -t gpu-advisor:cuda .   # CUDA JAX for GPU hosts
# BASE_IMAGE lets an offline build use a locally built base (see README, "Docker").
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG JAX_VARIANT=cpu
# Package index mirrors, when the build host uses one (scripts/verify_docker.sh passes the
# host's own pip settings); unset: PyPI.
ARG PIP_MIRROR_INDEX_URL=
ARG PIP_MIRROR_EXTRA_INDEX_URL=
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/srv/gpu-advisor \
    PATH=/opt/venv/bin:$PATH \
    ADVISOR_HOST=0.0.0.0 \
    ADVISOR_PORT=8000 \
    ADVISOR_DATABASE_URL=sqlite:////var/lib/gpu-advisor/gpu_advisor.db

RUN groupadd --system --gid 10001 advisor \
 && useradd --system --uid 10001 --gid advisor --home-dir /var/lib/gpu-advisor --create-home advisor

WORKDIR /srv/gpu-advisor

# A virtual environment works on python:*-slim and on a plain Debian base alike (PEP 668).
RUN python3 -m venv /opt/venv

# Dependencies only (from pyproject.toml), so code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"] + p["optional-dependencies"]["probes"]))' > /tmp/requirements.txt \
 && pip install ${PIP_MIRROR_INDEX_URL:+--index-url "$PIP_MIRROR_INDEX_URL"} \
      ${PIP_MIRROR_EXTRA_INDEX_URL:+--extra-index-url "$PIP_MIRROR_EXTRA_INDEX_URL"} -r /tmp/requirements.txt \
 && if [ "$JAX_VARIANT" = "cuda12" ]; then pip install "jax[cuda12]"; \
    elif [ "$JAX_VARIANT" != "cpu" ]; then echo "JAX_VARIANT must be cpu or cuda12" >&2; exit 1; fi

# Code last. PYTHONPATH points at it; `python -m app.cli` is the CLI.
COPY app ./app
COPY probes ./probes
COPY gpu_identity ./gpu_identity
COPY catalog ./catalog
COPY migrations ./migrations

USER advisor
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"ADVISOR_PORT\", \"8000\")}/healthz', timeout=4)" || exit 1

# Migrations, then uvicorn (serve --migrate runs `db upgrade` first).
CMD ["python", "-m", "app.cli", "serve", "--migrate"]
