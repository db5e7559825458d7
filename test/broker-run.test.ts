/**
 * `rtbench run` with real brokers, as a user runs it: the run starts the servers it
 * needs and stops them after; `rtbench brokers up|status|down` keeps servers running
 * between runs, and a run uses them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { alive } from "../brokers/servers.js";
import { readOnlyRun, rtbenchChildren, runCli, startCli, tempDir, waitFor } from "./helpers.js";

test("ws and direct × redis-streams and jetstream: every message delivered, broker version and RSS recorded, servers stopped after", async () => {
  const out = tempDir();
  const env = { RTBENCH_BROKERS_DIR: tempDir() }; // no servers left up by `brokers up`
  const r = await runCli(
    ["run", "--transports", "ws,direct", "--brokers", "redis-streams,jetstream", "--clients", "10", "--rate", "100", "--duration", "2", "--warmup", "1", "--out", out],
    { env, timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const run = readOnlyRun(out);
  assert.match(run.environment.brokers["redis-streams"]!, /^\d+\.\d+/, "the server's version, not a placeholder");
  assert.match(run.environment.brokers.jetstream!, /^\d+\.\d+/);
  assert.equal(run.cells.length, 4);
  const pids = new Set<number>();
  for (const cell of run.cells) {
    const name = `${cell.transport} × ${cell.broker}`;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.deepEqual(cell.counts, { expected: 3_000, delivered: 3_000, lost: 0, duplicated: 0, reordered: 0 }, name);
    const broker = cell.resources.broker ?? [];
    assert.ok(broker.length >= 2 && broker.every((s) => s.rssBytes > 1 << 20), `${name}: the broker's RSS is sampled each second`);
    // Only a relay has a wire to count; direct clients talk to the broker.
    assert.equal(cell.wire === undefined, cell.transport === "direct", name);
  }
  assert.match(r.stderr, /starting redis for redis-streams/);
  for (const m of r.stderr.matchAll(/up on port \d+ \(pid (\d+)\)/g)) pids.add(Number(m[1]));
  assert.equal(pids.size, 2, "one redis and one nats started for the run");
  for (const pid of pids) assert.equal(alive(pid), false, `the run stopped the server it started (pid ${pid})`);
  assert.deepEqual(await rtbenchChildren(), []);
});

test("sse × bullmq: each job taken by the relay's worker reaches every client; QueueEvents' completions are counted on their own", async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", "--transports", "sse", "--brokers", "bullmq", "--clients", "10", "--rate", "100", "--duration", "2", "--warmup", "1", "--out", out],
    { env: { RTBENCH_BROKERS_DIR: tempDir() }, timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const [cell] = readOnlyRun(out).cells;
  assert.equal(cell?.status, "ok", cell?.error);
  assert.deepEqual(cell.counts, { expected: 3_000, delivered: 3_000, lost: 0, duplicated: 0, reordered: 0 });
  const counts = cell.brokerCounts ?? {};
  // 300 jobs (3 s at 100/s), each completed once by the one worker, however many clients it fans out to.
  assert.equal(counts["bullmq jobs completed"], 300, JSON.stringify(counts));
  const observed = counts["bullmq completions QueueEvents reported"];
  assert.ok(observed !== undefined && observed > 0 && observed <= 300, `QueueEvents reported ${observed}`);
  assert.deepEqual(await rtbenchChildren(), []);
});

test("brokers up, status and down; a run uses the running server; a missing one is unavailable, the rest still run", async () => {
  const env = { RTBENCH_BROKERS_DIR: tempDir() };
  const up = await runCli(["brokers", "up", "redis-pubsub"], { env });
  assert.equal(up.code, 0, up.stderr + up.stdout);
  const pid = Number(/pid (\d+)/.exec(up.stdout)?.[1]);
  try {
    const status = await runCli(["brokers", "status", "redis", "nats"], { env });
    assert.match(status.stdout, new RegExp(`^redis\\s+running\\s+\\d+\\.\\d+\\S*\\s+\\d+\\s+${pid}\\s+\\d+ MiB\\s+redis://127\\.0\\.0\\.1:\\d+$`, "m"));
    assert.match(status.stdout, /^nats\s+stopped/m);

    const out = tempDir();
    const run = await runCli(
      ["run", "--transports", "ws", "--brokers", "redis-pubsub,kafka", "--clients", "5", "--rate", "50", "--duration", "1", "--warmup", "0", "--out", out],
      // Kafka cannot be had: no java on this PATH.
      { env: { ...env, PATH: "/nonexistent" }, timeoutMs: 120_000 },
    );
    assert.equal(run.code, 0, `an unavailable broker is not a failure: ${run.stderr}`);
    assert.doesNotMatch(run.stderr, /starting redis/, "the running server was used");
    const [redisCell, kafkaCell] = readOnlyRun(out).cells;
    assert.equal(redisCell!.status, "ok", redisCell!.error);
    assert.equal(redisCell!.counts.lost, 0);
    assert.equal(kafkaCell!.status, "unavailable");
    assert.match(kafkaCell!.error!, /java is not installed \(apt-get install default-jre-headless\)/);
  } finally {
    const down = await runCli(["brokers", "down"], { env });
    assert.equal(down.code, 0, down.stderr);
  }
  assert.equal(alive(pid), false, "brokers down stopped it");
  const after = await runCli(["brokers", "status", "redis"], { env });
  assert.match(after.stdout, /^redis\s+stopped/m);
});

test("servers a run started are stopped when the run is stopped, and a killed run's are stopped by the next run", async () => {
  const args = ["run", "--transports", "ws", "--brokers", "redis-pubsub", "--clients", "2", "--rate", "10", "--duration", "30", "--out", tempDir()];
  const startedServer = async (child: ReturnType<typeof startCli>): Promise<number> => {
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    await waitFor(() => /pid (\d+)\)/.test(err) && /measuring/.test(err), 30_000, "the run to start redis and measure");
    return Number(/pid (\d+)\)/.exec(err)![1]);
  };
  const env = { RTBENCH_BROKERS_DIR: tempDir() };
  const stopped = startCli(args, env);
  const first = await startedServer(stopped);
  stopped.kill("SIGTERM");
  await new Promise((r) => stopped.once("exit", r));
  await waitFor(() => !alive(first), 5_000, "the stopped run's redis to go");

  const killed = startCli(args, env);
  const second = await startedServer(killed);
  killed.kill("SIGKILL");
  await new Promise((r) => killed.once("exit", r));
  assert.equal(alive(second), true, "SIGKILL leaves no chance to clean up");
  const next = await runCli(["run", "--transports", "ws", "--brokers", "redis-pubsub", "--clients", "2", "--rate", "10", "--duration", "1", "--warmup", "0", "--out", tempDir()], { env });
  assert.equal(next.code, 0, next.stderr);
  assert.equal(alive(second), false, "the next run stopped the killed run's redis");
  assert.deepEqual(await rtbenchChildren(), []);
});
