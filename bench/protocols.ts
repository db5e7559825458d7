/** The protocols bench:harness sets a minimal hand-written pair beside, named as rtbench's transport of each. */
export const MINIMAL_PROTOCOLS = ["ws", "sse", "sse-h2", "socketio", "longpoll", "grpc"] as const;
export type MinimalProtocol = (typeof MINIMAL_PROTOCOLS)[number];

/** The URL a minimal client of the protocol is pointed at. */
export function minimalUrl(p: MinimalProtocol, port: number): string {
  return `${p === "ws" ? "ws" : p === "sse-h2" ? "https" : "http"}://127.0.0.1:${port}/`;
}
