# The service (HTTP, channels, dispatcher, tracker) for one machine. The GPU worker has its own
# image in whisper-container/. With RUNNER=local this image also transcribes on its CPU.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
# npm ci builds better-sqlite3 and whisper.cpp and prepares the default model into /app/data/models.
ENV DATA_DIR=/app/data
RUN npm ci
COPY . .

FROM node:20-bookworm-slim
RUN useradd --system --uid 10001 --home /app app
WORKDIR /app
COPY --from=build --chown=app /app /app
# The model prepared at build time lives outside the data volume, so mounting /data keeps it.
RUN mkdir -p /data && chown app /data && mv /app/data/models /app/models
ENV NODE_ENV=production DATA_DIR=/data WHISPER_MODEL=/app/models/ggml-tiny.en.bin PORT=8080 HOST=0.0.0.0
USER app
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["npm", "start"]
