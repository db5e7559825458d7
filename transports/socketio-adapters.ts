/**
 * Socket.IO scaled out the way its documentation says: relays pass each broadcast to
 * each other through an adapter over Redis. With several relays only the first
 * subscribes to the cell's broker; `io.to(room).emit` there reaches the clients of
 * every relay through the adapter.
 *
 * - `socketio-redis`: @socket.io/redis-adapter, over Redis Pub/Sub (a relay that is
 *   away misses what was broadcast; no connection state recovery).
 * - `socketio-redis-streams`: @socket.io/redis-streams-adapter, over a Redis stream (a
 *   relay resumes the stream after a disconnection; sessions kept in Redis).
 */
import type { Redis } from "ioredis";
import { codec, connector, createSocketIoServer, loadSocketIo, SOCKETIO_PATH, type ClusterAdapter } from "./socketio.js";
import type { Transport } from "./transport.js";
import { noteBrokerError } from "../brokers/errors.js";

/** The adapters and ioredis, loaded by `load()` with Socket.IO itself. */
let libs: { pubSub: typeof import("@socket.io/redis-adapter"); streams: typeof import("@socket.io/redis-streams-adapter"); ioredis: { Redis: typeof Redis } } | undefined;
async function load(): Promise<void> {
  await loadSocketIo();
  libs ??= { pubSub: await import("@socket.io/redis-adapter"), streams: await import("@socket.io/redis-streams-adapter"), ioredis: await import("ioredis") };
}
function lib(): NonNullable<typeof libs> {
  if (!libs) throw new Error("socket.io adapter: the transport's load() was not called");
  return libs;
}

function redis(url: string, name: string): Redis {
  const c = new (lib().ioredis.Redis)(url, { connectionName: name, maxRetriesPerRequest: 1 });
  // Without a listener ioredis prints "[ioredis] Unhandled error event" with a stack on every failed reconnect.
  c.on("error", (err: Error) => noteBrokerError("socket.io adapter's redis", err));
  return c;
}

const pubSubAdapter: ClusterAdapter = ({ url, namespace }) => {
  const pub = redis(url, "rtbench-sio-pub");
  const sub = pub.duplicate({ connectionName: "rtbench-sio-sub" });
  return {
    adapter: lib().pubSub.createAdapter(pub, sub, { key: `rtbench.${namespace}.sio` }),
    // The adapter queued its SUBSCRIBEs when the server made it; one connection runs
    // commands in order, so once a PING after them returns, they are in effect.
    ready: sub.ping().then(() => undefined),
    // It publishes and delivers locally in one call; its socketsJoin would go round Redis.
    deliversAfterPublish: false,
    async close() {
      sub.disconnect();
      await pub.quit();
    },
  };
};

const streamsAdapter: ClusterAdapter = ({ url, namespace }) => {
  const client = redis(url, "rtbench-sio-streams");
  return {
    // The stream is read from "$" by a client the adapter duplicates; a broadcast
    // added before that first read would be missed, and counted as lost.
    adapter: lib().streams.createAdapter(client, { streamName: `rtbench.${namespace}.sio`, channelPrefix: `rtbench.${namespace}.sio`, sessionKeyPrefix: `rtbench.${namespace}.sio:` }),
    ready: client.ping().then(() => undefined),
    // A ClusterAdapter: local delivery follows the XADD's reply, in XADD order.
    deliversAfterPublish: true,
    async close() {
      await client.quit();
    },
  };
};

export const socketIoRedis: Transport = {
  name: "socketio-redis",
  summary: "Socket.IO 4, websocket, relays joined by @socket.io/redis-adapter (Redis Pub/Sub)",
  endpoint: `${SOCKETIO_PATH}?EIO=4&transport=websocket`,
  adapterBroker: "redis-pubsub",
  // The Pub/Sub adapter keeps no sessions, so Socket.IO's recovery never restores one.
  details: { engineTransport: "websocket", connectionStateRecovery: false, adapter: "@socket.io/redis-adapter" },
  codec,
  upstream: "an emit on the same connection, acknowledged by a callback with upAck",
  load,
  createServer: (options) => createSocketIoServer(options, "websocket", pubSubAdapter),
  connect: connector("websocket"),
};

export const socketIoRedisStreams: Transport = {
  name: "socketio-redis-streams",
  summary: "Socket.IO 4, websocket, relays joined by @socket.io/redis-streams-adapter (a Redis stream)",
  endpoint: `${SOCKETIO_PATH}?EIO=4&transport=websocket`,
  adapterBroker: "redis-streams",
  details: { engineTransport: "websocket", connectionStateRecovery: true, adapter: "@socket.io/redis-streams-adapter" },
  codec,
  upstream: "an emit on the same connection, acknowledged by a callback with upAck",
  load,
  createServer: (options) => createSocketIoServer(options, "websocket", streamsAdapter),
  connect: connector("websocket"),
};
