/**
 * A TCP proxy in a path (the clients' to the relay, or the relay's to the broker), for
 * the scenarios that need a bad path whatever the protocol:
 * - `cut(ms)` (the faults `cut` and `cut-broker`) resets every connection and
 *   refuses new ones (accepted and reset at once) for the length of the cut;
 * - `readBytesPerSec` (the backpressure scenario's slow clients) reads the relay's
 *   side no faster than that, so the relay sees a slow reader. The proxy holds at most
 *   a chunk per connection: what the client has not read waits in the relay's buffers
 *   and the kernel's, where a real slow reader leaves it;
 * - `delayMs` passes every chunk on that much later, each way (a known answer for
 *   latency in tests).
 */
import net, { type AddressInfo, type Socket } from "node:net";

export class TcpProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private cutUntil = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Listens on `host`, forwarding to `targetPort` on `targetHost` (default: `host`). */
  static async start(host: string, targetPort: number, options: { readBytesPerSec?: number; targetHost?: string; delayMs?: number } = {}): Promise<TcpProxy> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: 0, host, backlog: 65535 }, resolve);
    });
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    server.on("connection", (client) => proxy.accept(client, options.targetHost ?? host, targetPort, options.readBytesPerSec, options.delayMs));
    return proxy;
  }

  private accept(client: Socket, host: string, targetPort: number, readBytesPerSec: number | undefined, delayMs: number | undefined): void {
    if (Date.now() < this.cutUntil) {
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = net.connect({ host, port: targetPort, noDelay: true });
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    // Either side closing or failing closes the other, as a real path would.
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    if (delayMs !== undefined) {
      // Each chunk passed on delayMs later, in order (equal delays fire in order).
      const later = (to: Socket) => (chunk: Buffer) => void setTimeout(() => to.destroyed || to.write(chunk), delayMs);
      client.on("data", later(upstream));
      upstream.on("data", later(client));
      return;
    }
    client.pipe(upstream);
    if (readBytesPerSec === undefined) {
      upstream.pipe(client);
      return;
    }
    // A token bucket of one second's worth: the relay's side is paused until what was
    // passed on has been "read" at the slow rate.
    let nextFreeAt = Date.now();
    upstream.on("data", (chunk: Buffer) => {
      client.write(chunk);
      nextFreeAt = Math.max(nextFreeAt, Date.now() - 1000) + (chunk.length / readBytesPerSec) * 1000;
      const wait = nextFreeAt - Date.now();
      if (wait > 0) {
        upstream.pause();
        setTimeout(() => upstream.resume(), wait).unref();
      }
    });
  }

  /** Resets every open connection and refuses new ones for `ms`; returns how many were cut. */
  cut(ms: number): number {
    this.cutUntil = Date.now() + ms;
    const n = this.pairs.size;
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return n;
  }

  async close(): Promise<void> {
    this.cut(0);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
