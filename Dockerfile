# syntax=docker/dockerfile:1.7
#
# The service (HTTP, channels, dispatcher, tracker) for one machine; docker-compose.yml runs it behind nginx.
# With RUNNER=local it also transcribes on this machine's CPU (whisper.cpp and the prepared tiny.en model are
# built in); the GPU worker for AWS Batch has its own image in whisper-container/.

# ---- build: whisper.cpp (portable CPU code), the tiny.en model, the bundled service ----
FROM node:22-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
# postinstall (scripts/prepare.ts) builds better-sqlite3 and whisper.cpp and prepares the default model into
# /app/data/models. The image may run on another CPU than the one that builds it: whisper.cpp's CPU code is built
# once per instruction-set level and the best one for the running CPU is loaded at start (WHISPER_CPU_TARGET).
# Dev dependencies too: esbuild bundles below. None of node_modules reaches the runtime stage.
ENV DATA_DIR=/app/data \
    WHISPER_CPU_TARGET=portable
RUN npm ci --foreground-scripts
COPY tsconfig.json ./
COPY src ./src
COPY bots ./bots
COPY mail ./mail
COPY whisper-container/src ./whisper-container/src
# The service and worker as single files, with only the native addon (better-sqlite3) beside them in dist/node_modules.
RUN npm run bundle

# ---- runtime ----
FROM node:22-bookworm-slim
# tini as PID 1: forwards SIGTERM to node (a graceful stop) and reaps the worker's children.
# ffmpeg: Debian's package, security-maintained by Debian (licence: docs/deployment.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The app user owns only /data; the code, dependencies, engine and model belong to root and are read-only
# to it, so a compromised process cannot rewrite the service.
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin app \
 && mkdir -p /data /backups && chown app:app /data /backups && chmod 700 /data /backups
WORKDIR /app
# Only what runs: the bundles, the engine (programs and the CPU variants they load), the model. No TypeScript runner, no npm
# packages used only at install (the ONNX weights the model is converted from, whisper.cpp's source).
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/whisper.cpp/bin ./build/whisper.cpp/bin
# The model lives outside the data volume, so mounting /data keeps it.
COPY --from=build /app/data/models ./models
ENV NODE_ENV=production \
    DATA_DIR=/data \
    WHISPER_MODEL=/app/models/ggml-tiny.en.bin \
    FFMPEG_PATH=/usr/bin/ffmpeg \
    PORT=8080 \
    HOST=0.0.0.0
USER app
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# node itself, not npm (npm would sit between the signal and the service). Operator commands run the same way:
# docker compose exec app node dist/app/admin.mjs ...
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/app/main.mjs"]
