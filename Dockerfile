# wstap: an intercepting WebSocket debugging proxy.
#   docker build -t wstap .
#   docker run --rm -p 8001:8001 -e WSTAP_TARGET=http://backend:8000 wstap
# Debian slim (glibc), not Alpine: bufferutil's prebuilt binary gives native unmasking.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
# Nothing tunes the process: wstap runs here as it runs from npx (docs/performance.md).
ENV NODE_ENV=production \
    WSTAP_HOST=0.0.0.0 \
    WSTAP_PORT=8001 \
    WSTAP_TARGET=http://backend:8000 \
    WSTAP_LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# A directory the non-root user can write, for recordings on a volume (WSTAP_RECORD=/recordings/ws.jsonl):
# a named volume mounted here starts with this owner.
RUN mkdir -p /recordings && chown node:node /recordings
USER node
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WSTAP_PORT||8001)+'/__wstap/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/wstap.js"]
CMD ["proxy"]
