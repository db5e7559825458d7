# rtbench in a container: the coordinator (`rtbench run`) and its workers (`rtbench worker`)
# run this same image (deploy/compose.yaml, deploy/k8s/). Built from the repository root:
#   docker build -t rtbench .
FROM node:20-bookworm-slim AS build
WORKDIR /opt/rtbench
COPY package.json package-lock.json tsconfig.json ./
COPY core core
COPY harness harness
COPY transports transports
COPY brokers brokers
COPY results results
COPY reports reports
COPY test test
COPY bench bench
# npm ci builds dist/ (the prepare script), with the dev dependencies TypeScript needs.
RUN npm ci --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /opt/rtbench
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /opt/rtbench/dist dist
COPY reports reports
COPY results results
COPY workloads workloads
# A worker's control port (it listens) and a coordinator's (workers dial it).
EXPOSE 7420 7421
ENTRYPOINT ["node", "dist/harness/cli.js"]
# Listening on every interface is what a container is for; the shared token guards it.
CMD ["worker", "--listen", "0.0.0.0:7420"]
