import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { transports } from "../harness/registry.js";
import { applyFields, DEFAULTS, loadWorkloadFile } from "../harness/workload.js";
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
