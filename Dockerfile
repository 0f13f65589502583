# syntax=docker/dockerfile:1
# The control service: exactly what `npm start` starts (tsx control/main.ts), in production mode.
# Build: docker build -t matrixos-control .   Run: docs/deployment.md

FROM node:22-bookworm-slim AS deps
WORKDIR /app
# sqlite3 builds its native module when no prebuilt one matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim
ENV NODE_ENV=production PLATFORM_MODE=production DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY control ./control
COPY site ./site
COPY jobs ./jobs
COPY instance ./instance
COPY scripts ./scripts
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8000 9000 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.API_PORT || 9000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "--import", "tsx", "control/main.ts"]
