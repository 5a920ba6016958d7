# IntentGate services image (for docker compose). The local-process stack in infra/ is the
# route on machines without Docker; this image runs the same entry points against the
# compose servers.
FROM openpolicyagent/opa:1.22.2-static AS opa

FROM node:24.11-bookworm-slim
WORKDIR /app
COPY --from=opa /opa /usr/local/bin/opa
ENV OPA_PATH=/usr/local/bin/opa \
    INTENTGATE_CONTAINERS=never \
    NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
COPY packages ./packages
COPY services ./services
COPY infra ./infra
COPY test/package.json ./test/package.json
COPY schemas ./schemas
COPY policies ./policies
RUN npm ci --no-audit --no-fund --omit=optional
USER node
CMD ["node", "infra/bin/start.ts"]
