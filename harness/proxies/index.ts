/**
 * Every proxy kind a cell can put in the clients' path. Adding one is a kind in a file
 * of this folder plus one entry here.
 */
import { haproxyRoundRobin, haproxySticky } from "./haproxy.js";
import { nginxDefault, nginxH2, nginxTuned, strict } from "./nginx.js";
import type { ProxyKind } from "./proxy.js";

export const proxyKinds: ReadonlyMap<string, ProxyKind> = new Map([nginxDefault, nginxTuned, nginxH2, strict, haproxyRoundRobin, haproxySticky].map((k) => [k.name, k]));

export function getProxyKind(name: string): ProxyKind {
  const k = proxyKinds.get(name);
  if (!k) throw new Error(`unknown proxy "${name}" (known: ${[...proxyKinds.keys()].join(", ")})`);
  return k;
}
