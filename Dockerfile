# SysPark cloud image: `syspark cloud` in production mode (Express + PostgreSQL + MQTT + Stripe).
# compose.yaml runs it beside PostgreSQL and Mosquitto; docs/deploy.md "Self-hosting". The
# configuration comes from the environment at run time (DATABASE_URL, MQTT_URL, the secrets…):
# nothing secret is built into the image. test/deploy/container-files.test.ts lints this file.

# ---- dependencies: production ones only (tsx and typescript, which run the TypeScript sources,
# are dependencies; the test tools are devDependencies and stay out) ----
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM node:20-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="syspark-cloud" \
      org.opencontainers.image.description="SysPark cloud: sessions, payments, audit, operators' console"
# Production mode refuses to start with a missing variable (one message naming each) and never
# falls back to an embedded database, broker or the Stripe test emulator. It listens on 0.0.0.0.
ENV SYSPARK_ENV=production \
    PORT=18090
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# The sources (.dockerignore keeps out tests, docs, local data and secrets). They stay owned by
# root: the process runs as `node` and cannot change its own code.
COPY . .
USER node
EXPOSE 18090
# /health answers 200 while the database and the broker answer, 503 otherwise. The slim image
# has no curl: Node's fetch asks, bounded below the check's own timeout.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 18090) + '/health', { signal: AbortSignal.timeout(8000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) closes the cloud gracefully: HTTP, consumers, outbox relay, database.
STOPSIGNAL SIGTERM
CMD ["node", "bin/syspark.js", "cloud"]
