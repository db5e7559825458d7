/**
 * A TCP proxy in the clients' path to the relay, for the `cut` fault: it forwards
 * bytes both ways until told to cut, then resets every connection and refuses new
 * ones (accepted and reset at once) for the length of the cut.
 */
import net, { type AddressInfo, type Socket } from "node:net";

export class FaultProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private cutUntil = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(host: string, targetPort: number): Promise<FaultProxy> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: 0, host, backlog: 65535 }, resolve);
    });
    const proxy = new FaultProxy(server, (server.address() as AddressInfo).port);
    server.on("connection", (client) => proxy.accept(client, host, targetPort));
    return proxy;
  }

  private accept(client: Socket, host: string, targetPort: number): void {
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
    client.pipe(upstream);
    upstream.pipe(client);
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
