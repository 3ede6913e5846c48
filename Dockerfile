# syntax=docker/dockerfile:1
#
# The images of the split stack in docker-compose.yml, all built from this
# repository's own wheels. One build stage makes every wheel (circus-web's
# needs npm for the vendored uPlot); each component stage then installs only
# the wheels it needs, as the namespace test's per-host venvs do
# (integration-tests/test_scaleout_netns.py):
#
#   docker build --target circusd .      circus-core + circus-ctl + papa + the demo app
#   docker build --target stats .        circus-ctl + circus-stats
#   docker build --target plugins .      circus-ctl + circus-plugins[statsd,redis]
#   docker build --target web .          circus-ctl + circus-web
#   docker build --target ctl .          circus-ctl alone (circusctl, keygen)
#
# The circusd target also runs papa: papa starts the use_papa processes, so
# the programs they run must be in its image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------
# wheels: `python -m build` for every package, as `make wheels` does.
FROM ${PYTHON_IMAGE} AS wheels
# npm: circus-web's setup.py fetches uPlot with `npm pack` and checks its
# pinned sha512 integrity; nothing else in the build uses node.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir --root-user-action=ignore build==1.6.1
WORKDIR /src
COPY packages/ packages/
RUN for pkg in packages/*/; do \
      if [ -d "${pkg}src" ]; then python -m build --wheel --outdir /wheels "$pkg" || exit 1; fi; \
    done

# --------------------------------------------------------------------------
# base: an unprivileged user and the directories the services share.
FROM ${PYTHON_IMAGE} AS base
RUN useradd --system --create-home --home-dir /var/lib/circus --shell /usr/sbin/nologin circus \
 && install -d -o circus -g circus -m 0700 /keys /run/papa \
 && install -d -o circus -g circus /var/log/circus
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# --------------------------------------------------------------------------
FROM base AS ctl
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --root-user-action=ignore /wheels/circus_ctl-*.whl
USER circus

FROM base AS circusd
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --root-user-action=ignore /wheels/circus_ctl-*.whl \
        /wheels/circus_core-*.whl /wheels/papa-*.whl
COPY examples/worker.py examples/web.py examples/flaky.py /srv/app/
USER circus
WORKDIR /srv/app

FROM base AS stats
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --root-user-action=ignore /wheels/circus_ctl-*.whl /wheels/circus_stats-*.whl
USER circus

FROM base AS plugins
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --root-user-action=ignore /wheels/circus_ctl-*.whl \
        "$(ls /wheels/circus_plugins-*.whl)[statsd,redis]"
USER circus

FROM base AS web
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --root-user-action=ignore /wheels/circus_ctl-*.whl /wheels/circus_web-*.whl
USER circus
