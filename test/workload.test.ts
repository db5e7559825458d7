import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { transports } from "../harness/registry.js";
import { applyFields, applyFlags, DEFAULTS, loadRunPlan, loadWorkloadFile } from "../harness/workload.js";
import { ROOT, runCli, tempDir } from "./helpers.js";

function writeWorkload(text: string): string {
  const file = join(tempDir(), "bad.yaml");
  writeFileSync(file, text);
  return file;
}

test("the shipped quick workload is valid", () => {
  const w = loadWorkloadFile(join(ROOT, "workloads/quick.yaml"));
  assert.deepEqual(w.transports, ["sse", "ws", "direct"]);
  assert.ok(w.brokers.includes("inproc") && w.brokers.includes("kafka"), "the in-process broker and the real ones");
  assert.equal(w.duration, 5);
});

test("durations accept seconds as numbers or with units", () => {
  const at = (): string => "test";
  assert.equal(applyFields(DEFAULTS, { duration: "2m" }, at, false).duration, 120);
  assert.equal(applyFields(DEFAULTS, { warmup: "500ms" }, at, false).warmup, 0.5);
  assert.equal(applyFields(DEFAULTS, { duration: "7" }, at, true).duration, 7);
  assert.deepEqual(applyFields(DEFAULTS, { transports: "all" }, at, true).transports, [...transports.keys()]);
});

test("a bad field in a file is named with the file, the field and what was expected", () => {
  const file = writeWorkload("transports: [sse]\nclients: -5\n");
  assert.throws(() => loadWorkloadFile(file), (err: Error) => {
    assert.equal(err.message, `${file}: field "clients": expected an integer >= 1 and <= 1000000, got -5`);
    return true;
  });
});

test("an unknown transport, an unknown field and broken YAML are each one clear line", () => {
  assert.throws(() => loadWorkloadFile(writeWorkload("transports: [sse, carrier-pigeon]\n")), /field "transports": expected a list of sse, sse-h2, ws, .*grpc, direct \(or all\), got \["sse","carrier-pigeon"\]/);
  assert.throws(() => loadWorkloadFile(writeWorkload("rtae: 100\n")), /field "rtae": expected one of the fields name, transports/);
  assert.throws(() => loadWorkloadFile(writeWorkload("rate: [1000\n")), /bad\.yaml: not valid YAML/);
  assert.throws(() => loadWorkloadFile(writeWorkload("- just\n- a list\n")), /expected a mapping of workload fields/);
  assert.throws(() => loadWorkloadFile("/nonexistent/w.yaml"), /\/nonexistent\/w\.yaml: cannot read the workload file \(ENOENT\)/);
});

test("rtbench run with a bad flag prints one line, exits 2 and starts nothing", async () => {
  const out = tempDir();
  for (const [args, mentions] of [
    [["--rate", "0"], /flag --rate: field "rate": expected a number > 0/],
    [["--clients", "many"], /flag --clients: field "clients": expected an integer/],
    [["--duration", "soon"], /flag --duration: field "duration": expected seconds/],
    [["--transports", "sse,smoke-signals"], /flag --transports: field "transports"/],
    [["--ratee", "5"], /Unknown option '--ratee'/],
  ] as const) {
    const r = await runCli(["run", ...args, "--out", out]);
    assert.equal(r.code, 2, `exit code for ${args.join(" ")}`);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line for ${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0]!, mentions);
  }
  assert.deepEqual(readdirSync(out), [], "no run folder was created");
});

test("rtbench run with a bad workload file names the file and exits 2", async () => {
  const file = writeWorkload("rate: -1\n");
  const r = await runCli(["run", file]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), `rtbench: ${file}: field "rate": expected a number > 0 and <= 10000000, got -1`);
});

test("rtbench list and help describe what is available", async () => {
  const list = await runCli(["list"]);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^ {2}sse +Server-Sent Events/m);
  assert.match(list.stdout, /^ {2}ws +WebSocket/m);
  assert.match(list.stdout, /^ {2}inproc +in-process EventEmitter/m);
  assert.match(list.stdout, /quick\.yaml/);
  const help = await runCli(["help"]);
  assert.equal(help.code, 0);
  for (const flag of ["--transports", "--brokers", "--rate", "--size", "--clients", "--duration", "--warmup", "--out"]) {
    assert.ok(help.stdout.includes(flag), `help mentions ${flag}`);
  }
  const unknown = await runCli(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});

test("a suite lists workloads: shared fields, includes and each part's own, in that order of precedence", () => {
  const dir = tempDir();
  writeFileSync(join(dir, "base.yaml"), "name: base\nscenario: reconnect\nfault: drop\nrate: 50\nclients: 7\n");
  const file = join(dir, "suite.yaml");
  writeFileSync(
    file,
    [
      "name: mine",
      "rate: 10",
      "slowClients: 0.2     # only the backpressure part reads it",
      "suite:",
      "  - { name: a, scenario: steady, clients: 3 }",
      "  - { include: base.yaml, clients: 9 }",
      "  - { name: slow, scenario: backpressure }",
    ].join("\n"),
  );
  const { plan, suite } = loadRunPlan(file);
  assert.ok(suite);
  assert.equal(plan.workload.name, "mine");
  const [a, base, slow] = plan.parts!;
  assert.deepEqual([a!.name, a!.scenario, a!.rate, a!.clients], ["a", "steady", 10, 3]);
  assert.deepEqual([base!.name, base!.scenario, base!.fault, base!.rate, base!.clients], ["base", "reconnect", "drop", 50, 9], "the included file wins over shared, the entry over both");
  assert.equal(slow!.slowClients, 0.2);
  assert.equal(a!.slowClients, DEFAULTS.slowClients, "a shared field goes only to the parts whose scenario reads it");
  // The shipped suite loads.
  const seeds = loadRunPlan(join(ROOT, "workloads/seeds.yaml"));
  assert.ok(seeds.plan.parts!.length >= 8);
});

test("a bad suite is refused in one line naming the file, the entry and the field", () => {
  const dir = tempDir();
  const suite = (text: string): string => {
    const file = join(dir, `s${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, text);
    return file;
  };
  writeFileSync(join(dir, "inner.yaml"), "suite: [{ scenario: steady }]\n");
  assert.throws(() => loadRunPlan(suite("suite: []\n")), /field "suite": expected a list of workloads/);
  assert.throws(() => loadRunPlan(suite("suite: [{ name: x }, { name: x }]\n")), /suite\[1\]: field "name": "x" is already the name of suite\[0\]/);
  assert.throws(() => loadRunPlan(suite("suite: [{ include: inner.yaml }]\n")), /suite\[0\]: field "include": inner.yaml is a suite itself/);
  assert.throws(() => loadRunPlan(suite("suite: [{ include: missing.yaml }]\n")), /missing.yaml: cannot read the workload file/);
  assert.throws(() => loadRunPlan(suite("suite: [{ rate: fast }]\n")), /suite\[0\]: field "rate": expected a number/);
  assert.throws(() => loadRunPlan(suite("fault: drop\nsuite: [{ scenario: steady }]\n")), /field "fault": only the reconnect .*no part of this suite runs/);
  const { loaded } = loadRunPlan(suite("suite: [{ scenario: steady }, { scenario: saturation }]\n"));
  assert.throws(() => applyFlags(loaded, { scenario: "steady" }, true), /no --scenario for a suite/);
  assert.throws(() => applyFlags(loaded, { fault: "drop" }, true), /flag --fault.*no part runs it/);
  const flagged = applyFlags(loaded, { rate: "5", rateStep: "3" }, true);
  assert.deepEqual(flagged.map((l) => [l.workload.rate, l.workload.rateStep]), [[5, DEFAULTS.rateStep], [5, 3]]);
  // A plain workload file refuses to be read as one workload when it is a suite.
  assert.throws(() => loadWorkloadFile(join(dir, "inner.yaml")), /a suite/);
});
