/**
 * HAProxy balancing over several relays in HTTP mode: round robin (`haproxy-rr`, each
 * request to the next relay) or with affinity by a cookie it inserts
 * (`haproxy-sticky`), the two ways the seeds' "needs sticky sessions" is put to a test.
 */
import { execFileSync } from "node:child_process";
import type { ProxyConfig, ProxyKind } from "./proxy.js";

function haproxyConfig(c: ProxyConfig, sticky: boolean): string {
  return `# written by rtbench for one cell
global
  # Two file descriptors per connection, under this machine's 20,000 open files.
  maxconn 9000
defaults
  mode http
  option http-no-delay
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  # An upgraded WebSocket, and a stream nobody writes to for a while.
  timeout tunnel 1h
frontend clients
  bind ${c.host}:${c.port}
  default_backend relays
backend relays
  balance roundrobin
${sticky ? "  cookie RTBENCH_RELAY insert indirect nocache\n" : ""}${c.relays.map((r, i) => `  server relay${i + 1} ${r.host}:${r.port}${sticky ? ` cookie relay${i + 1}` : ""}`).join("\n")}
`;
}

const program = { paths: ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"], apt: "haproxy" } as const;
// -db: stay in the foreground, a child of the run.
const args = (file: string): string[] => ["-db", "-f", file];
const version = (binary: string): string => {
  try {
    return /version (\S+)/.exec(execFileSync(binary, ["-v"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }))?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
};

/** The two kinds differ only in affinity. */
const haproxyKind = (name: string, summary: string, sticky: boolean): ProxyKind => ({ name, summary, program, minRelays: 2, config: (c) => haproxyConfig(c, sticky), args, version });

export const haproxyRoundRobin = haproxyKind("haproxy-rr", "HAProxy over several relays, round robin per request, no affinity", false);

export const haproxySticky = haproxyKind("haproxy-sticky", "HAProxy over several relays with affinity: a cookie it inserts sends a client back to its relay", true);
