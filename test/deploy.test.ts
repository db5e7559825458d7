/**
 * The Dockerfile, deploy/compose.yaml and deploy/k8s/ as far as this machine can test
 * them without an engine: Compose's own `config` check, Kubernetes' schemas
 * (kubernetes-models), and every command, name, port and variable in them against what
 * rtbench expects: each command parses with the real flags and workload fields, the
 * workers dial what the coordinator listens on (or the coordinator what the workers
 * are named), and both sides read the same token. The protocol itself is tested with
 * workers in network namespaces (workers.test.ts).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { Job } from "kubernetes-models/batch/v1/Job";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Service } from "kubernetes-models/v1/Service";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { parse } from "../harness/cli-args.js";
import { brokerUrls, DEFAULT_WORKLOAD } from "../harness/cli-args.js";
import { RUN_FLAGS, WORKER_FLAGS, workerAddresses } from "../harness/worker-command.js";
import { COORDINATOR_PORT, TOKEN_ENV, WORKER_PORT } from "../harness/worker.js";
import { applyFlags, FIELDS, flagName, loadRunPlan } from "../harness/workload.js";
import type { FlagSpec } from "../harness/cli-args.js";
import { ROOT } from "./helpers.js";

const runFlags: FlagSpec = { ...RUN_FLAGS, ...Object.fromEntries(FIELDS.map((f) => [flagName(f.key), { type: "string" as const }])) };

/** A `rtbench run` command line as the CLI would take it: its flags, and its workload fields applied to the default workload. */
function checkRun(args: string[]): Record<string, string | boolean | string[] | undefined> {
  assert.equal(args[0], "run");
  const { values, positionals } = parse(args.slice(1), runFlags, "run");
  assert.deepEqual(positionals, []);
  const flags = Object.fromEntries(FIELDS.flatMap((f) => (values[flagName(f.key)] !== undefined ? [[f.key, values[flagName(f.key)]]] : [])));
  const { loaded } = loadRunPlan(DEFAULT_WORKLOAD);
  applyFlags(loaded, flags, false);
  brokerUrls(values["broker-url"]);
  return values as Record<string, string | boolean | string[] | undefined>;
}

function checkWorker(args: string[]): Record<string, string | boolean | undefined> {
  assert.equal(args[0], "worker");
  const { values, positionals } = parse(args.slice(1), WORKER_FLAGS, "worker");
  assert.deepEqual(positionals, []);
  return values as Record<string, string | boolean | undefined>;
}

/** The hosts --broker-url points at. */
function brokerHosts(values: Record<string, unknown>): string[] {
  return Object.values(brokerUrls(values["broker-url"])).map((u) => new URL(u).hostname);
}

test("the Dockerfile builds what the deploy files run", () => {
  const docker = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  assert.match(docker, /^ENTRYPOINT \["node", "dist\/harness\/cli\.js"\]$/m);
  assert.match(docker, new RegExp(`^EXPOSE ${WORKER_PORT} ${COORDINATOR_PORT}$`, "m"));
  // Every source folder tsconfig builds is copied into the build stage.
  const include = (JSON.parse(readFileSync(join(ROOT, "tsconfig.json"), "utf8")) as { include: string[] }).include;
  for (const dir of include) assert.match(docker, new RegExp(`^COPY ${dir} ${dir}$`, "m"), `Dockerfile copies ${dir}`);
  const cmd = /^CMD (\[.*\])$/m.exec(docker);
  assert.ok(cmd);
  checkWorker(JSON.parse(cmd[1]!) as string[]);
});

test("deploy/compose.yaml: valid for Compose, its workers dial the coordinator that waits for them", () => {
  const file = join(ROOT, "deploy/compose.yaml");
  const env = { ...process.env, RTBENCH_WORKER_TOKEN: "a-token-of-16-chars+", WORKERS: "3" };
  // Compose's own check, without an engine (Debian's docker-compose; .ci/run installs it).
  const config = spawnSync("docker-compose", ["-f", file, "config"], { encoding: "utf8", env });
  assert.equal(config.error, undefined, "docker-compose is installed");
  assert.equal(config.status, 0, config.stderr);
  const doc = parseYaml(config.stdout) as { services: Record<string, { command: string[]; environment: Record<string, string>; build?: { context: string }; image?: string }> };
  const { coordinator, worker } = doc.services;
  assert.ok(coordinator && worker);
  // No token given: Compose refuses to start, naming the variable.
  const without = spawnSync("docker-compose", ["-f", file, "config"], { encoding: "utf8", env: { ...process.env, RTBENCH_WORKER_TOKEN: "" } });
  assert.notEqual(without.status, 0);
  assert.match(without.stderr, /RTBENCH_WORKER_TOKEN/);

  const run = checkRun(coordinator.command);
  assert.equal(run["await-workers"], "3", "it waits for $WORKERS workers");
  assert.equal(run.listen, `0.0.0.0:${COORDINATOR_PORT}`);
  const w = checkWorker(worker.command);
  assert.equal(w.coordinator, `coordinator:${COORDINATOR_PORT}`, "workers dial the coordinator's service and port");
  assert.equal(w.once, true);
  for (const s of [coordinator, worker]) assert.equal(s.environment[TOKEN_ENV], env.RTBENCH_WORKER_TOKEN);
  for (const host of brokerHosts(run)) assert.ok(doc.services[host], `broker host ${host} is a service`);
  // One image, built from the repository root.
  assert.ok(existsSync(join(coordinator.build!.context, "Dockerfile")));
  assert.equal(worker.image, coordinator.image);
});

test("deploy/k8s: valid manifests; the coordinator dials every pod of the workers' Indexed Job by name", () => {
  const dir = join(ROOT, "deploy/k8s");
  const kinds: Record<string, new (o: never) => { validate(): void }> = { Job, Deployment, Service, PersistentVolumeClaim, ConfigMap };
  type Doc = { kind: string; metadata: { name: string }; spec: Record<string, any> };
  const docs: Doc[] = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as Doc));
  for (const d of docs) {
    const Kind = kinds[d.kind];
    assert.ok(Kind, `${d.kind} ${d.metadata.name}: a kind this test validates`);
    new Kind(d as never).validate();
  }
  const named = (kind: string, name: string): Doc => {
    const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(d, `${kind} ${name}`);
    return d;
  };
  const workers = named("Job", "rtbench-worker");
  assert.equal(workers.spec.completionMode, "Indexed");
  assert.equal(workers.spec.parallelism, workers.spec.completions, "every worker runs at once");
  const pod = workers.spec.template.spec;
  const service = named("Service", pod.subdomain);
  assert.equal(service.spec.clusterIP, "None", "a headless Service names each pod");
  assert.deepEqual(service.spec.selector, workers.spec.template.metadata.labels);
  assert.equal(service.spec.ports[0].port, WORKER_PORT);
  const w = checkWorker(pod.containers[0].args);
  assert.equal(w.listen, `0.0.0.0:${WORKER_PORT}`);
  assert.equal(w.once, true, "a pod ends after its coordinator, so the Job completes");

  const coordinator = named("Job", "rtbench-coordinator").spec.template.spec;
  const run = checkRun(coordinator.containers[0].args);
  const expected = Array.from({ length: workers.spec.completions }, (_, i) => `rtbench-worker-${i}.${pod.subdomain}:${WORKER_PORT}`);
  assert.deepEqual(workerAddresses(run.workers as string), expected, "pod i of the Indexed Job is worker i");
  assert.ok(Number(run["workers-wait"]) > 0, "it waits for pods still starting");
  for (const host of brokerHosts(run)) named("Service", host);
  // Both read the token from one Secret (made by the user, never in the repository).
  const tokenOf = (spec: any) => spec.containers[0].env.find((e: { name: string }) => e.name === TOKEN_ENV)?.valueFrom?.secretKeyRef;
  assert.ok(tokenOf(pod));
  assert.deepEqual(tokenOf(coordinator), tokenOf(pod));
  assert.ok(!docs.some((d) => d.kind === "Secret"), "no Secret in the repository");
  // The results volume is a claim in the same files.
  named("PersistentVolumeClaim", coordinator.volumes[0].persistentVolumeClaim.claimName);
});

test("deploy/k8s/brokers.yaml: the brokers of docker-compose.yml, with the same images, commands, settings and ports", () => {
  type Doc = { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: Record<string, any>; data?: Record<string, string> };
  const docs = parseAllDocuments(readFileSync(join(ROOT, "deploy/k8s/brokers.yaml"), "utf8")).map((d) => d.toJS() as Doc);
  type ComposeService = { image: string; command?: string[]; environment?: Record<string, string>; ports?: string[]; volumes?: string[] };
  const compose = (parseYaml(readFileSync(join(ROOT, "docker-compose.yml"), "utf8")) as { services: Record<string, ComposeService> }).services;
  const find = (kind: string, name: string): Doc => {
    const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(d, `brokers.yaml has ${kind} ${name}`);
    return d;
  };
  assert.deepEqual(docs.filter((d) => d.kind === "Deployment").map((d) => d.metadata.name).sort(), Object.keys(compose).sort());
  for (const d of docs) assert.ok(compose[d.metadata.labels?.app ?? ""], `${d.kind} ${d.metadata.name} is labelled with its broker (kubectl apply -l app=NAME)`);
  for (const [name, service] of Object.entries(compose)) {
    const deployment = find("Deployment", name);
    assert.equal(deployment.metadata.labels?.app, name);
    const pod = deployment.spec.template.spec;
    // Kubernetes' service links would hand the Kafka image KAFKA_PORT=tcp://..., read as a setting.
    assert.equal(pod.enableServiceLinks, false, `${name}: no service-link variables`);
    const container = pod.containers[0];
    assert.equal(container.image, service.image, `${name}: the same image`);
    assert.deepEqual(container.args, service.command, `${name}: the same command`);
    const env = Object.fromEntries((container.env ?? []).map((e: { name: string; value: string }) => [e.name, e.value]));
    for (const [k, v] of Object.entries(service.environment ?? {})) assert.equal(env[k], v, `${name}: ${k} as in docker-compose.yml`);
    const composePorts = (service.ports ?? []).map((p) => Number(p.split(":").at(-1))).sort();
    assert.deepEqual(container.ports.map((p: { containerPort: number }) => p.containerPort).sort(), composePorts, `${name}: the same ports`);
    const svc = find("Service", name);
    assert.deepEqual(svc.spec.selector, deployment.spec.template.metadata.labels);
    assert.deepEqual(svc.spec.ports.map((p: { port: number; targetPort: number }) => [p.port, p.targetPort]).sort(), composePorts.map((p) => [p, p]), `${name}: its Service's ports`);
    // A configuration file Compose mounts is a ConfigMap here, with the file's text.
    for (const volume of service.volumes ?? []) {
      const [file, target] = volume.split(":");
      const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === target);
      assert.ok(mount, `${name}: ${target} is mounted`);
      const configMap = pod.volumes.find((v: { name: string }) => v.name === mount.name).configMap.name;
      assert.equal(find("ConfigMap", configMap).data![mount.subPath], readFileSync(join(ROOT, file!), "utf8"), `${name}: ${file} as the ConfigMap's ${mount.subPath}`);
    }
  }
  // Kafka: other pods reach it by its Service's name, so that is what it must advertise.
  const kafkaEnv = find("Deployment", "kafka").spec.template.spec.containers[0].env as Array<{ name: string; value: string }>;
  assert.equal(kafkaEnv.find((e) => e.name === "KAFKA_ADVERTISED_LISTENERS")?.value, "PLAINTEXT://kafka:9092");
});
