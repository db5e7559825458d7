/**
 * What every command's arguments share: the one-line usage error (exit 2), flag
 * parsing that names the flag, --broker-url, --out.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { urlSchemesOf } from "../brokers/broker.js";
import { redactSecrets } from "../results/redact.js";
import { outDirProblem } from "../results/store.js";
import { brokers, getBroker } from "./registry.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const DEFAULT_WORKLOAD = resolve(ROOT, "workloads/quick.yaml");
export const VERSION = (JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** Exit code 2: the user's input was wrong; nothing was started. */
export class UsageError extends Error {}

export type FlagSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/** --broker-url name=url (repeatable, or comma-separated): an external broker instead of one rtbench starts. */
export function brokerUrls(value: unknown): Record<string, string> {
  const items = (Array.isArray(value) ? value : value === undefined ? [] : [value]).flatMap((v: string) => v.split(",")).filter(Boolean);
  const out: Record<string, string> = {};
  for (const item of items) {
    if (item === "standard") {
      // Every broker on its standard port: this machine's own services, or docker-compose.yml.
      for (const b of brokers.values()) if (b.standardUrl) out[b.name] ??= b.standardUrl;
      continue;
    }
    const eq = item.indexOf("=");
    const name = item.slice(0, eq);
    const url = item.slice(eq + 1);
    const external = [...brokers.keys()].filter((b) => !getBroker(b).inProcess);
    if (eq <= 0 || !brokers.has(name)) {
      throw new UsageError(`rtbench: flag --broker-url: expected NAME=URL with NAME one of ${external.join(", ")}, got ${JSON.stringify(redactSecrets(item))}`);
    }
    const broker = getBroker(name);
    if (broker.inProcess) throw new UsageError(`rtbench: flag --broker-url: ${name} runs inside the relay process and takes no URL (expected one of ${external.join(", ")})`);
    const schemes = urlSchemesOf(broker);
    if (!URL.canParse(url) || !schemes.includes(new URL(url).protocol)) {
      throw new UsageError(
        `rtbench: flag --broker-url: ${name}: expected a URL with scheme ${schemes.map((p) => `${p}//`).join(" or ")} (such as ${broker.standardUrl}), got ${JSON.stringify(redactSecrets(url))}`,
      );
    }
    out[name] = url;
  }
  return out;
}

export function parse(args: string[], options: FlagSpec, command: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = (err as Error).message.split("\n")[0]!.replace(/\. To specify a positional.*$/, "");
    // "--rate --transports ws": node calls the missing value "ambiguous"; say what is missing.
    const missing = /^Option '(--[\w-]+)(?: <value>)?' argument (?:is ambiguous|missing)/.exec(msg);
    if (missing) {
      const at = args.indexOf(missing[1]!);
      const next = at >= 0 ? args[at + 1] : undefined;
      throw new UsageError(`rtbench ${command}: flag ${missing[1]}: expected a value, got ${next === undefined ? "nothing" : `the flag ${next}`} (see rtbench help)`);
    }
    throw new UsageError(`rtbench ${command}: ${msg} (see rtbench help)`);
  }
}

/** --out, checked before anything starts. */
export function outDirOf(value: unknown, command: string): string {
  const path = typeof value === "string" ? value : "results/runs";
  const problem = outDirProblem(path);
  if (problem) throw new UsageError(`rtbench ${command}: flag --out: ${problem}`);
  return resolve(path);
}

export function intFlag(value: string | undefined, flag: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`rtbench serve: flag --${flag}: expected an integer >= ${min} and <= ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}
