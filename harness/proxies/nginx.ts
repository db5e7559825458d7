/**
 * nginx as a reverse proxy in front of the relays, in the configurations the seeds
 * talk about: as installed (`nginx-default`: buffering on, HTTP/1.0 to the upstream,
 * 60 s read timeout, no Upgrade passed), with the seeds' advice (`nginx-tuned`), and
 * as a strict proxy that passes plain HTTP only and keeps the default 60 s read
 * timeout (`strict`, as many corporate proxies do).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { ProxyConfig, ProxyKind } from "./proxy.js";
import { getTransport } from "../registry.js";

function nginxConfig(c: ProxyConfig, location: string, preamble = ""): string {
  const listen = c.tls
    ? `listen ${c.host}:${c.port} ssl http2;
    ssl_certificate ${c.tls.cert};
    ssl_certificate_key ${c.tls.key};`
    : `listen ${c.host}:${c.port};`;
  const temp = (name: string): string => `${name}_temp_path ${join(c.dir, name)};`;
  return `# written by rtbench for one cell
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${join(c.dir, "nginx.pid")};
error_log ${join(c.dir, "server.log")} warn;
${process.getuid?.() === 0 ? "user root;\n" : ""}events { worker_connections 16000; }
http {
  access_log off;
  ${temp("client_body")} ${temp("proxy")} ${temp("fastcgi")} ${temp("uwsgi")} ${temp("scgi")}
${preamble}  upstream relays {
${c.relays.map((r) => `    server ${r.host}:${r.port};`).join("\n")}
  }
  server {
    ${listen}
    location / {
      proxy_pass http://relays;
${location}    }
  }
}
`;
}

const nginxProgram = { paths: ["/usr/sbin/nginx", "/usr/local/sbin/nginx"], apt: "nginx" } as const;
const args = (file: string, dir: string): string[] => ["-p", dir, "-c", file, "-e", join(dir, "server.log")];
// nginx -v writes to stderr.
const version = (binary: string): string => /nginx\/(\S+)/.exec(spawnSync(binary, ["-v"], { encoding: "utf8", timeout: 10_000 }).stderr ?? "")?.[1] ?? "unknown";

// The seeds' advice: no buffering, HTTP/1.1 and keep-alive to the relay, a long read timeout, the upgrade passed.
const ADVICE = `      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 24h;
`;
const UPGRADE_MAP = `  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
`;

export const nginxDefault: ProxyKind = {
  name: "nginx-default",
  summary: "nginx as installed: response buffering on, HTTP/1.0 to the relay, 60 s read timeout, Upgrade not passed; the relay leaves out X-Accel-Buffering",
  program: nginxProgram,
  minRelays: 1,
  withoutAppAdvice: true,
  config: (c) => nginxConfig(c, ""),
  args,
  version,
};

export const nginxTuned: ProxyKind = {
  name: "nginx-tuned",
  summary: "nginx with the seeds' advice: proxy_buffering off, HTTP/1.1 to the relay, Connection '', a 24 h read timeout, the WebSocket upgrade passed",
  program: nginxProgram,
  minRelays: 1,
  // Connection: "upgrade" when the client asks for one, else '' (keep-alive to the relay).
  config: (c) => nginxConfig(c, ADVICE, UPGRADE_MAP),
  args,
  version,
};

// nginx-tuned's config, listening with TLS (ProxyConfig.tls).
export const nginxH2: ProxyKind = {
  ...nginxTuned,
  name: "nginx-h2",
  summary: "nginx ending TLS, HTTP/2 for sse-h2's clients and HTTP/1.1 for the others, HTTP/1.1 to the relays, with the seeds' advice",
  tls: true,
  // TLS and HTTP/2 end here: sse-h2's streams go on to sse relays as HTTP/1.1 requests;
  // the other HTTP/1.1 transports' clients speak it over TLS.
  relayTransport(client) {
    if (client === "sse-h2") return "sse";
    return (getTransport(client).listener ?? "http") === "http" ? client : null;
  },
};

export const strict: ProxyKind = {
  name: "strict",
  summary: "a strict HTTP proxy (nginx): plain HTTP/1.1 requests and streamed responses pass, Upgrade never does; an idle response is cut after nginx's default 60 s",
  program: nginxProgram,
  minRelays: 1,
  // nginx drops the hop-by-hop Upgrade and Connection headers unless told to pass them.
  config: (c) =>
    nginxConfig(
      c,
      `      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;
`,
    ),
  args,
  version,
};
