/**
 * Hardening: bad input is one line before anything starts; a crash of any role, of the
 * broker or of the disk never loses a measured cell nor leaves a server running; the
 * labels say whose limit a lagging cell shows; no temp file is trusted; no secret
 * reaches a result.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { compareRuns } from "../harness/compare.js";
import { judgeGenerators } from "../harness/guard.js";
import { createHistogram, encodeHistogram } from "../core/histogram.js";
import { processStartTicks, startServer, stopServer } from "../harness/broker-servers.js";
import { alive } from "../brokers/servers.js";
import { redactSecrets } from "../results/redact.js";
import { RunStore } from "../results/store.js";
import type { CellResult, RunResult } from "../results/schema.js";
import { ROOT, readOnlyRun, rtbenchChildren, runCli, startCli, tempDir, waitFor } from "./helpers.js";

const FIXTURE = join(ROOT, "test/fixtures/run");
const fixture = (): RunResult => JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;
const oneLine = (text: string): string[] => text.trim().split("\n");
const TINY = ["--clients", "5", "--rate", "50", "--warmup", "0", "--drain", "1"];

/** Collects a child's stderr; resolves the exit code. */
function watch(child: ChildProcess): { stderr: () => string; stdout: () => string; exited: Promise<number | null> } {
  let err = "";
  let out = "";
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  return { stderr: () => err, stdout: () => out, exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))) };
}

test("bad input is one line naming the flag or field, exit 2, and nothing starts", async () => {
  const dir = tempDir();
  const file = join(dir, "a-file");
  writeFileSync(file, "");
  writeFileSync(join(dir, "nan.yaml"), "rate: .nan\n");
  const cases: Array<[string[], RegExp]> = [
    [["run", "--brokers", "redis-pubsub", "--out", ""], /flag --out: expected a folder path, got an empty string/],
    [["run", "--brokers", "redis-pubsub", "--out", "/dev/null"], /flag --out: \/dev\/null is not a folder/],
    [["run", "--brokers", "redis-pubsub", "--out", file], /flag --out: .*a-file is a file: expected a folder/],
    [["run", "--brokers", "redis-pubsub", "--out", "/proc/rtbench"], /flag --out: \/proc is on the proc file system/],
    [["run", "--rate", "--transports", "ws"], /flag --rate: expected a value, got the flag --transports/],
    [["run", "--broker-url", "inproc=redis://127.0.0.1:6379"], /--broker-url: inproc runs inside the relay process and takes no URL/],
    [["run", "--broker-url", "redis-pubsub=http://127.0.0.1:6379"], /--broker-url: redis-pubsub: expected a URL with scheme redis:\/\/ or rediss:\/\/.*got "http:/],
    [["run", "--broker-url", "redis-pubsub=notaurl"], /--broker-url: redis-pubsub: expected a URL .*got "notaurl"/],
    [["run", "--fault", "cut"], /flag --fault: field "fault": only the reconnect and durability scenarios read it, and this workload's scenario is steady/],
    [["run", join(dir, "nan.yaml")], /nan\.yaml: field "rate": expected a number > 0 .*got NaN$/],
    [["report", FIXTURE, "--out", "/dev/null"], /rtbench report: flag --out: \/dev\/null is not a folder/],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(args, { env: { TMPDIR: dir } });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(oneLine(r.stderr).length, 1, `${args.join(" ")}: one line, got:\n${r.stderr}`);
    assert.match(r.stderr.trim(), expected, args.join(" "));
  }
  // Nothing was started: no broker folder in this TMPDIR, no run folder in the repository root.
  assert.deepEqual(readdirSync(dir).filter((e) => e.startsWith("rtbench-run-brokers-")), []);
});

test("a result with a malformed cell is refused in one line that names the cell", async () => {
  const dir = tempDir();
  for (const [bad, expected] of [
    [{ id: "x" }, /cell 2 \("x"\): expected field "transport" to be a string, got nothing/],
    [null, /cell 2: expected an object, got null/],
  ] as const) {
    const run = fixture();
    (run.cells as unknown[])[1] = bad;
    const path = join(dir, `bad-${bad === null ? "null" : "x"}`);
    mkdirSync(path);
    writeFileSync(join(path, "result.json"), JSON.stringify(run));
    const r = await runCli(["report", path, "--out", dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(oneLine(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, expected);
  }
});

/** The fixture's cells with a third repetition each, so the gate may make a call. */
function threeRepetitions(run: RunResult): RunResult {
  const third = run.cells.filter((c) => c.params.repetition === 1).map((c) => ({ ...c, id: c.id.replace(/r1$/, "r3"), params: { ...c.params, repetition: 3 } }));
  return { ...run, cells: [...run.cells, ...third] };
}

test("the gate never passes a broken candidate: a failed, missing or empty cell is a regression, an unfinished run is refused", async () => {
  const dir = tempDir();
  const write = (name: string, run: RunResult): string => {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(run));
    return path;
  };
  const baseline = write("baseline", fixture());
  const failed = fixture();
  failed.cells = failed.cells.map((c): CellResult => (c.transport === "ws" ? { ...c, status: "failed", error: "fleet process 0 exited (SIGKILL)" } : c));
  const empty = fixture();
  for (const c of empty.cells.filter((c) => c.transport === "sse")) {
    c.counts = { ...c.counts, delivered: 0 };
    c.throughput = 0;
    c.histograms = { ...c.histograms, latencyUs: encodeHistogram(createHistogram()) };
  }
  const unfinished = fixture();
  delete unfinished.finishedAt;

  const r1 = await runCli(["compare", baseline, write("failed", failed)]);
  assert.equal(r1.code, 1, r1.stdout);
  assert.match(r1.stdout, /ws × inproc.*🔴 regressed \(failed in 2 of 2 candidate repetition\(s\): fleet process 0 exited/);
  const r2 = await runCli(["compare", baseline, write("failed2", failed), "--allow-missing"]);
  assert.equal(r2.code, 0, r2.stdout);
  const r3 = await runCli(["compare", baseline, write("empty", empty)]);
  assert.equal(r3.code, 1, r3.stdout);
  assert.match(r3.stdout, /sse × inproc.*\| p99 \|.*🔴 regressed \(measured in the baseline, not in the candidate\)/);
  const r4 = await runCli(["compare", baseline, write("unfinished", unfinished)]);
  assert.equal(r4.code, 2, r4.stderr);
  assert.match(r4.stderr, /candidate .*unfinished\.json: the run did not finish/);
});

test("with fewer than 3 repetitions a side no regression is called: the spread between runs cannot be estimated", () => {
  const slower = (run: RunResult): RunResult => ({
    ...run,
    cells: run.cells.map((c) => ({ ...c, throughput: c.throughput * 0.5 })),
  });
  const two = compareRuns(fixture(), slower(fixture()));
  const t2 = two.cells.flatMap((c) => c.metrics).filter((m) => m.metric === "throughput");
  assert.equal(two.regressions, 0);
  assert.ok(t2.every((m) => m.verdict === "inconclusive" && /2 and 2 repetitions cannot show the spread/.test(m.note ?? "")), JSON.stringify(t2));
  const three = compareRuns(threeRepetitions(fixture()), slower(threeRepetitions(fixture())));
  assert.ok(three.cells.flatMap((c) => c.metrics).filter((m) => m.metric === "throughput").every((m) => m.verdict === "regressed"));
});

test("a lagging producer that shares the relay's loop is the relay's limit when its own work is small; else the generator's", () => {
  const base = { targetRate: 1000, achievedRate: 500, publishDelayP99Us: 900_000, fleet: [], window: { fromS: 0, toS: 5 } };
  const relay = [{ t: 1, rssBytes: 1, heapUsedBytes: 1, cpuPct: 100, elu: 0.99, eventLoopDelayP99Ms: 900, eventLoopDelayMaxMs: 1000 }];
  const held = judgeGenerators({ ...base, producerSharesRelay: true, producerOwnShare: 0.01, relay });
  assert.deepEqual(held.saturated, []);
  assert.match(held.relayLimit.join("; "), /publish delay p99 900 ms.*own work took 1\.0% of the loop it shares with the relay \(2\.0% at the target rate\), so the relay held it \(relay event loop busy 99%, longest stall 1000 ms\)/);
  // 60% of the loop at half the target rate: 120% at the target, more than the loop has.
  const own = judgeGenerators({ ...base, producerSharesRelay: true, producerOwnShare: 0.6, relay });
  assert.equal(own.relayLimit.length, 0);
  assert.match(own.saturated.join("; "), /fell behind its schedule.*would take 120% of the loop .* it could not keep up on its own/);
  const alone = judgeGenerators({ ...base, producerSharesRelay: false, producerOwnShare: 0.01 });
  assert.ok(alone.saturated.length > 0 && alone.relayLimit.length === 0, "a producer of its own lags by itself");
  const unknown = judgeGenerators({ ...base, producerSharesRelay: true });
  assert.ok(unknown.saturated.length > 0 && unknown.relayLimit.length === 0, "unknown own share: the generator's");
  const stopped = judgeGenerators({ ...base, publishDelayP99Us: 0, producerSharesRelay: false, stoppedEarly: { published: 600, total: 1000, afterS: 14 } });
  assert.match(stopped.saturated.join("; "), /had published 600 of 1000 messages when it was stopped 14\.0 s after its start/);
});

test("no password reaches a result: URLs' passwords are redacted where results are written", () => {
  assert.equal(redactSecrets("redis-pubsub=redis://user:s3cret@127.0.0.1:6379/0"), "redis-pubsub=redis://user:***@127.0.0.1:6379/0");
  assert.equal(redactSecrets("amqp://guest:guest@h:5672 and postgres://postgres@h/db"), "amqp://guest:***@h:5672 and postgres://postgres@h/db");
  const run = fixture();
  const store = new RunStore(tempDir(), { ...run, id: "redacted", command: ["rtbench", "run", "--broker-url", "redis-pubsub=redis://:s3cret@127.0.0.1:1"] });
  store.addCell({ ...run.cells[0]!, error: "cannot connect to redis-pubsub at redis://:s3cret@127.0.0.1:1" });
  const text = readFileSync(store.file, "utf8");
  assert.ok(!text.includes("s3cret"), text.slice(0, 400));
  assert.match(text, /redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
});

test("a state folder or file rtbench did not make private is refused; a pid it did not start is never signalled", async () => {
  const dir = tempDir();
  const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
  try {
    // A state that names some other process as a server: status does not show it, down does not kill it.
    const state = join(dir, "up");
    mkdirSync(state, { mode: 0o700 });
    const forged = [
      { name: "redis", pid: sleeper.pid, port: 1, url: "redis://forged.example:1", version: "x", dir },
      { name: "nats", pid: sleeper.pid, port: 1, url: "nats://forged.example:1", version: "x", dir, startTicks: processStartTicks(sleeper.pid!), command: "nats-server" },
    ];
    writeFileSync(join(state, "state.json"), JSON.stringify(forged), { mode: 0o600 });
    const status = await runCli(["brokers", "status", "redis", "nats"], { env: { RTBENCH_BROKERS_DIR: state } });
    assert.equal(status.code, 0, status.stderr);
    assert.ok(!status.stdout.includes("forged"), status.stdout);
    const down = await runCli(["brokers", "down"], { env: { RTBENCH_BROKERS_DIR: state } });
    assert.equal(down.code, 0, down.stderr);
    assert.ok(alive(sleeper.pid!), "brokers down killed a process it had not started");

    // A state folder that is a link, or another user's: refused in one line.
    const link = join(dir, "link");
    symlinkSync(state, link);
    const refused = await runCli(["brokers", "status"], { env: { RTBENCH_BROKERS_DIR: link } });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /is a symbolic link: rtbench keeps the servers it leaves running there and will not trust it/);
    if (process.getuid?.() === 0) {
      const others = join(dir, "others");
      mkdirSync(others, { mode: 0o700 });
      writeFileSync(join(others, "state.json"), "[]");
      execFileSync("chown", ["-R", "65534", others]);
      const r = await runCli(["brokers", "status"], { env: { RTBENCH_BROKERS_DIR: others } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /belongs to uid 65534, not to this user/);
    }

    // Run folders of a dead owner: one others may write is left alone, and a pid not identified as a server is not killed.
    const tmp = join(dir, "tmp");
    mkdirSync(tmp);
    const open = join(tmp, "rtbench-run-brokers-open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    writeFileSync(join(open, "owner.json"), JSON.stringify({ pid: 999_999_999, servers: [sleeper.pid] }));
    const mine = join(tmp, "rtbench-run-brokers-mine");
    mkdirSync(mine, { mode: 0o700 });
    writeFileSync(join(mine, "owner.json"), JSON.stringify({ process: { pid: 999_999_999, startTicks: 1 }, servers: [{ pid: sleeper.pid, startTicks: 1 }] }), { mode: 0o600 });
    const run = await runCli(["run", "--transports", "ws", "--brokers", "inproc", ...TINY, "--duration", "0.5", "--out", join(dir, "runs")], { env: { TMPDIR: tmp } });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(alive(sleeper.pid!), "a run killed a pid named in a run folder without checking it");
    assert.ok(existsSync(open), "a folder others may write was trusted");
    assert.ok(!existsSync(mine), "this user's stale run folder was not removed");
  } finally {
    sleeper.kill("SIGKILL");
  }
});

test("a fleet process killed mid-cell fails that cell, naming the role, and the next cell runs", async () => {
  const out = tempDir();
  const child = startCli(["run", "--transports", "ws,sse", "--brokers", "inproc", ...TINY, "--duration", "2", "--out", out]);
  const w = watch(child);
  await waitFor(() => /\[1\/2[^\]]*\] ws × inproc steady measuring/.test(w.stderr()), 30_000, "the first cell to measure");
  const fleets = execFileSync("pgrep", ["-f", "dist/harness/fleet-process.js"], { encoding: "utf8" }).trim().split("\n");
  process.kill(Number(fleets[0]), "SIGKILL");
  assert.equal(await w.exited, 1, w.stderr());
  const run = readOnlyRun(out);
  assert.equal(run.cells.length, 2);
  assert.equal(run.cells[0]!.status, "failed");
  assert.match(run.cells[0]!.error!, /^fleet process 0 exited \(SIGKILL\)/);
  assert.equal(run.cells[1]!.status, "ok");
  assert.equal(run.cells[1]!.counts.lost, 0);
  assert.ok(!w.stderr().includes("ERR_IPC_CHANNEL_CLOSED"), w.stderr());
  await waitFor(async () => (await rtbenchChildren()).length === 0, 5_000, "no rtbench child process");
});

test("servers of a coordinator killed outright are reaped by the next command, even an in-process run", async () => {
  const tmp = tempDir();
  const child = startCli(["run", "--transports", "ws", "--brokers", "redis-pubsub", ...TINY, "--duration", "30", "--out", tempDir()], { TMPDIR: tmp });
  const w = watch(child);
  await waitFor(() => /redis \S+ up on port \d+ \(pid \d+\)/.test(w.stderr()), 30_000, "the run's redis to start");
  const pid = Number(/\(pid (\d+)\)/.exec(w.stderr())![1]);
  await waitFor(() => w.stderr().includes("measuring"), 30_000, "the cell to measure");
  child.kill("SIGKILL");
  await w.exited;
  assert.ok(alive(pid), "the redis of a killed run is still there, until the next command");
  const next = await runCli(["run", "--transports", "ws", "--brokers", "inproc", ...TINY, "--duration", "0.5", "--out", tempDir()], { env: { TMPDIR: tmp } });
  assert.equal(next.code, 0, next.stderr);
  await waitFor(() => !alive(pid), 5_000, "the orphaned redis to be stopped");
  assert.deepEqual(readdirSync(tmp).filter((e) => e.startsWith("rtbench-run-brokers-")), [], "its folder is removed");
});

test("a disk that fills mid-run: the cell measured is printed, the run stops cleanly, no temp file and no server are left", async (t) => {
  const mount = tempDir();
  try {
    if (process.getuid?.() !== 0) throw new Error("not root");
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", mount], { stdio: "ignore" });
  } catch {
    t.skip("needs root and tmpfs mounts to make a real full disk");
    return;
  }
  try {
    const out = join(mount, "runs");
    const child = startCli(["run", "--transports", "ws,sse", "--brokers", "inproc,redis-pubsub", ...TINY, "--duration", "1", "--out", out]);
    const w = watch(child);
    // Once the first cell is written, the disk fills: the next write fails with ENOSPC.
    await waitFor(() => readdirSync(mount).includes("runs") && readOnlyRunOrNull(out)?.cells.length === 1, 60_000, "the first cell to be written");
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${join(mount, "filler")}`, "bs=4k"], { stdio: "ignore" });
    } catch {
      /* dd stops when the disk is full */
    }
    assert.equal(await w.exited, 1, w.stderr());
    assert.match(w.stderr(), /cannot write .*result\.json \(ENOSPC\); stopped after cell 2 of 4/);
    assert.match(w.stderr(), /not written: ws\.redis-pubsub\.steady\.r1 \(their figures are in the table above\); not run: 2 cell\(s\)/);
    assert.match(w.stdout(), /ws\s+redis-pubsub\s+steady\s+1\s+5\s+50\s+250\/250/, "the unwritten cell's figures are printed");
    const files = readdirSync(join(out, readdirSync(out)[0]!));
    assert.deepEqual(files.filter((f) => f.endsWith(".tmp")), [], "no temp file is left");
    assert.equal(readOnlyRun(out).cells.length, 1, "result.json keeps what was written before");
    const pid = Number(/redis \S+ up on port \d+ \(pid (\d+)\)/.exec(w.stderr())![1]);
    assert.ok(!alive(pid), "the run's redis is stopped");
  } finally {
    execFileSync("umount", [mount]);
  }
});

function readOnlyRunOrNull(out: string): RunResult | null {
  try {
    return readOnlyRun(out);
  } catch {
    return null;
  }
}

test("rtbench serve on a taken port or an unknown host: one line, exit 2, no server started", async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as net.AddressInfo).port;
  const tmp = tempDir();
  try {
    const busy = await runCli(["serve", "--port", String(port), "--broker", "redis-pubsub"], { env: { TMPDIR: tmp } });
    assert.equal(busy.code, 2, busy.stderr);
    assert.equal(oneLine(busy.stderr).length, 1, busy.stderr);
    assert.match(busy.stderr, new RegExp(`flag --port: 127\\.0\\.0\\.1:${port} is taken by another program`));
    const host = await runCli(["serve", "--host", "no-such-host.invalid", "--broker", "redis-pubsub"], { env: { TMPDIR: tmp } });
    assert.equal(host.code, 2, host.stderr);
    assert.match(host.stderr.trim(), /^rtbench serve: flag --host: cannot resolve "no-such-host\.invalid"/);
    assert.deepEqual(readdirSync(tmp).filter((e) => e.startsWith("rtbench-run-brokers-")), [], "no broker server was started");
  } finally {
    taken.close();
  }
});

/** A TCP proxy to a Redis that forwards everything until a client says QUIT, then answers nothing: a broker that never acknowledges the goodbye. */
async function quitSwallowingProxy(targetPort: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    let mute = false;
    client.on("data", (chunk) => {
      if (/\bquit\b/i.test(chunk.toString("latin1"))) mute = true;
      if (!mute) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => !mute && client.write(chunk));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

test("a broker that never answers the goodbye costs a teardown note, not the measured cell", async () => {
  const dir = tempDir();
  const redis = await startServer("redis", dir);
  const proxy = await quitSwallowingProxy(redis.port);
  try {
    const url = `redis://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    const out = tempDir();
    const r = await runCli(["run", "--transports", "ws", "--brokers", "redis-pubsub", "--broker-url", `redis-pubsub=${url}`, ...TINY, "--duration", "1", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const cell = readOnlyRun(out).cells[0]!;
    assert.equal(cell.status, "ok");
    assert.equal(cell.counts.delivered, cell.counts.expected);
    assert.ok(cell.counts.expected > 0 && cell.latencyUs.p50 > 0, "the figures are kept");
    assert.match(cell.teardownErrors?.join("\n") ?? "", /closing the relay and its broker connection: no answer within 5 s/);
    // Relay and producer stop together: the summary names whichever teardown it noted first.
    assert.match(r.stdout, /teardown: (relay: closing the relay|producer: closing the producer)/);
  } finally {
    proxy.close();
    await stopServer(redis);
  }
});

test("a cell far over the relay's capacity keeps what was measured, labelled as the relay's limit (the system's figure)", async () => {
  const out = tempDir();
  // 20 ms of relay CPU per message at 500/s: 10× over capacity; the producer, sharing the relay's loop, is stopped at its deadline.
  const r = await runCli(["run", "--transports", "ws", "--brokers", "inproc", ...TINY, "--rate", "500", "--duration", "2", "--drain", "2", "--out", out], {
    env: { RTBENCH_TEST_RELAY_BURN_US: "20000" },
  });
  assert.equal(r.code, 0, r.stderr);
  const cell = readOnlyRun(out).cells[0]!;
  assert.equal(cell.status, "ok");
  assert.equal(cell.saturated, false, cell.saturationReasons.join("; "));
  assert.ok(cell.producerStopped && cell.producerStopped.published < 1000, JSON.stringify(cell.producerStopped));
  assert.match(cell.relayLimit!.join("; "), /had published \d+ of 1000 messages when it was stopped/);
  assert.match(cell.relayLimit!.join("; "), /so the relay held it/);
  assert.equal(cell.counts.delivered, cell.producerStopped!.published * 5, "every message published reached every client");
  assert.match(r.stdout, /RELAY LIMIT \(the system's figure/);
});

test("a stall of the relay's process is the relay's figure, not the generator's", async () => {
  const out = tempDir();
  const child = startCli(["run", "--transports", "ws", "--brokers", "inproc", ...TINY, "--rate", "100", "--duration", "4", "--out", out]);
  const w = watch(child);
  await waitFor(() => w.stderr().includes("measuring"), 30_000, "the cell to measure");
  await new Promise((r) => setTimeout(r, 1500));
  const relay = Number(execFileSync("pgrep", ["-f", "dist/harness/relay-process.js"], { encoding: "utf8" }).trim().split("\n")[0]);
  process.kill(relay, "SIGSTOP");
  await new Promise((r) => setTimeout(r, 1000));
  process.kill(relay, "SIGCONT");
  assert.equal(await w.exited, 0, w.stderr());
  const cell = readOnlyRun(out).cells[0]!;
  assert.equal(cell.saturated, false, cell.saturationReasons.join("; "));
  assert.ok(cell.latencyUs.p99 > 500_000, `p99 ${cell.latencyUs.p99} µs shows the 1 s stall`);
  assert.match(cell.relayLimit!.join("; "), /fell behind its schedule.*so the relay held it \(relay event loop busy \d+%, longest stall \d+/);
});

test("a broker killed mid-cell is said in the cell and the summary; its client library's errors stay off the terminal", async () => {
  const out = tempDir();
  const child = startCli(["run", "--transports", "ws", "--brokers", "redis-pubsub", ...TINY, "--rate", "100", "--duration", "3", "--out", out]);
  const w = watch(child);
  await waitFor(() => w.stderr().includes("measuring"), 30_000, "the cell to measure");
  const pid = Number(/redis \S+ up on port \d+ \(pid (\d+)\)/.exec(w.stderr())![1]);
  await new Promise((r) => setTimeout(r, 1000));
  process.kill(pid, "SIGKILL");
  assert.equal(await w.exited, 0, w.stderr());
  const cell = readOnlyRun(out).cells[0]!;
  assert.ok(cell.counts.lost > 0);
  assert.equal(cell.brokerTrouble?.serverExited?.pid, pid);
  assert.ok(cell.brokerTrouble!.errors.some((e) => e.role === "relay" && e.count > 0 && /redis: /.test(e.first)), JSON.stringify(cell.brokerTrouble));
  assert.match(w.stdout(), /BROKER SERVER EXITED at \d/);
  assert.ok(!/Unhandled error event|ECONNREFUSED\n/.test(w.stderr() + w.stdout()), "ioredis printed to the terminal");
  const runDir = join(out, readdirSync(out)[0]!);
  assert.match(readFileSync(join(runDir, "rtbench.log"), "utf8"), /redis: /, "the client library's errors are in the run's log");
});
