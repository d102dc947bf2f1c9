# syntax=docker/dockerfile:1
#
# jobscheduler image: the gRPC service and the collector programs its jobs run
# (`node dist/collectors/<type>.js`, the same files the local runtime runs).
#
#   scripts/container-build.sh        (task container:build) passes the version build args
#
# The runtime stage runs as uid 10001 with a read-only root filesystem: the service writes only
# under DATA_DIR (/data) and /tmp, which Kubernetes mounts as emptyDir volumes (k8s/deployment.yaml).
# The same without Kubernetes:
#   docker run --read-only --tmpfs /tmp -v jobscheduler-data:/data -p 50054:50054 -p 8080:8080 IMAGE

ARG NODE_IMAGE=node:20.19-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build

# better-sqlite3 12.11.1 tries a prebuilt binary first and falls back to node-gyp: keep a
# toolchain so the fallback works when the prebuilt download is blocked.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# The official node image ships Node's headers under /usr/local/include/node, so node-gyp builds
# against them instead of downloading a headers tarball (which restricted CI networks block).
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci

COPY tsconfig.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev

# Keep only the compiled addon of better-sqlite3 (drops ~25 MB of objects and SQLite sources),
# then prove it loads.
RUN cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/better_sqlite3.node \
 && rm -rf build deps src \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/better_sqlite3.node \
 && cd /src \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG NODE_IMAGE
ARG VERSION=dev
ARG GIT_COMMIT=unknown
ARG BUILD_DATE=unknown

LABEL org.opencontainers.image.title="jobscheduler" \
      org.opencontainers.image.description="gRPC service that runs typed jobs as isolated Kubernetes Jobs (or local processes)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

# A fixed numeric uid/gid so `runAsNonRoot` can verify it and `runAsUser: 10001` matches.
# npm, npx, corepack and yarn are not needed at run time: remove them (smaller attack surface).
RUN groupadd --gid 10001 jobscheduler \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin jobscheduler \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0750 /data \
 && rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx \
      /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*

WORKDIR /app
# Application files stay owned by root: the service can read but not modify its own code.
# package.json is required at run time ("type": "module" makes dist/*.js ES modules);
# proto/ ships as the API's reference (server reflection serves the descriptors compiled into dist/).
COPY package.json ./
COPY proto ./proto
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist

ENV NODE_ENV=production \
    DATA_DIR=/data

VOLUME ["/data"]
# gRPC, health (/healthz, /readyz), Prometheus metrics (/metrics)
EXPOSE 50054 8080 9090

USER 10001:10001

# No HEALTHCHECK: Kubernetes ignores it (k8s/deployment.yaml has the probes), and podman drops it
# from OCI-format images. With plain docker/podman, poll http://HOST:8080/readyz instead.
# The base image's CMD ["node"] is dropped explicitly (ENTRYPOINT resets it in docker, but be sure).
# The V8 heap flag is the service's memory setting, the same as `npm start` (README, "Memory").
ENTRYPOINT ["node", "--max-old-space-size=384", "dist/main.js"]
CMD []
