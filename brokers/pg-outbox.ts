/**
 * The transactional outbox of seed 003, on PostgreSQL: the producer inserts each
 * message into an outbox table in its own transaction (the row commits or nothing
 * does), and a subscriber reads the rows after the last id it has, woken by
 * LISTEN/NOTIFY and, should a notification be lost, by polling. Latency is therefore
 * outbox to client. One publishing connection, so ids commit in order.
 */
import type pg from "pg";
import { lazy } from "../core/lazy.js";

const pgjs = lazy(async () => (await import("pg")).default);
import type { Broker, BrokerConnection, BrokerOptions } from "./broker.js";
import { noteBrokerError } from "./errors.js";

export const OUTBOX_TABLE = "rtbench_outbox";
const CHANNEL = "rtbench_outbox";
/** Polling beside LISTEN: the longest a lost notification can delay a message. */
const POLL_MS = 100;
const BATCH = 1000;
const STANDARD_URL = "postgres://postgres@127.0.0.1:5432/postgres";

async function client(options: BrokerOptions): Promise<pg.Client> {
  const c = new (await pgjs()).Client({ connectionString: options.url ?? STANDARD_URL });
  await c.connect();
  c.on("error", (err) => noteBrokerError("postgres", err));
  return c;
}

/** PostgreSQL's codes for a table, type or index that a concurrent CREATE ... IF NOT EXISTS made first. */
const ALREADY_THERE = new Set(["23505", "42P07", "42710"]);

/** The outbox table and its index; clients connecting at once race to create them, and the losers' errors mean it exists. */
async function ensureTable(c: pg.Client): Promise<void> {
  try {
    await c.query(`CREATE TABLE IF NOT EXISTS ${OUTBOX_TABLE} (id bigserial PRIMARY KEY, topic text NOT NULL, payload bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
    await c.query(`CREATE INDEX IF NOT EXISTS ${OUTBOX_TABLE}_topic_id ON ${OUTBOX_TABLE} (topic, id)`);
  } catch (err) {
    if (!ALREADY_THERE.has((err as { code?: string }).code ?? "")) throw err;
  }
}

export const pgOutbox: Broker = {
  name: "pg-outbox",
  summary: "transactional outbox on PostgreSQL: insert per transaction, relay by LISTEN/NOTIFY plus polling",
  capabilities: { durable: true, replay: true, ordering: "per-topic", ackLevels: ["commit"] },
  inProcess: false,
  server: "postgres",
  standardUrl: STANDARD_URL,
  urlSchemes: ["postgres:", "postgresql:"],
  async connect(options): Promise<BrokerConnection> {
    // The publishing connection opens on the first publish: a subscriber (a direct
    // client) holds its reader alone, so 50 of them take 50 of the server's connections.
    let pub: Promise<pg.Client> | undefined;
    const publisher = (): Promise<pg.Client> =>
      (pub ??= client(options).then(async (c) => {
        await ensureTable(c);
        return c;
      }));
    const subscriptions = new Set<{ close(): Promise<void> }>();
    // One query at a time on the connection, in publish order: pg would queue them too,
    // but deprecates queueing (it goes in pg 9), and a chain of our own says the same.
    let tail: Promise<unknown> = Promise.resolve();
    return {
      publish(topic, message) {
        // One statement is one transaction: the row and its notification commit together.
        const done = tail.then(async () =>
          (await publisher()).query(`WITH row AS (INSERT INTO ${OUTBOX_TABLE} (topic, payload) VALUES ($1, $2) RETURNING id) SELECT pg_notify('${CHANNEL}', $1) FROM row`, [topic, message]),
        );
        tail = done.catch(() => undefined);
        return done.then(() => undefined);
      },
      async subscribe(topic, onMessage, opts) {
        const reader = await client(options);
        await ensureTable(reader);
        let last = 0;
        if (opts?.from !== "earliest") {
          const res = await reader.query<{ max: string | null }>(`SELECT max(id) AS max FROM ${OUTBOX_TABLE} WHERE topic = $1`, [topic]);
          last = Number(res.rows[0]?.max ?? 0);
        }
        let reading = false;
        let again = false;
        let closed = false;
        // One read at a time; a wake-up during a read asks for another after it.
        const read = async (): Promise<void> => {
          if (reading) {
            again = true;
            return;
          }
          reading = true;
          try {
            do {
              again = false;
              const res = await reader.query<{ id: string; payload: Buffer }>(
                `SELECT id, payload FROM ${OUTBOX_TABLE} WHERE topic = $1 AND id > $2 ORDER BY id LIMIT ${BATCH}`,
                [topic, last],
              );
              for (const row of res.rows) {
                last = Number(row.id);
                onMessage(row.payload);
              }
              if (res.rows.length === BATCH) again = true;
            } while (again && !closed);
          } catch (err) {
            if (!closed) process.emitWarning(`pg-outbox reader for ${topic}: ${(err as Error).message}`);
          } finally {
            reading = false;
          }
        };
        reader.on("notification", (n) => {
          if (n.payload === topic) void read();
        });
        await reader.query(`LISTEN ${CHANNEL}`);
        const poll = setInterval(() => void read(), POLL_MS);
        await read();
        const subscription = {
          async close() {
            if (closed) return;
            closed = true;
            clearInterval(poll);
            subscriptions.delete(subscription);
            await reader.end();
          },
        };
        subscriptions.add(subscription);
        return subscription;
      },
      async close() {
        for (const s of [...subscriptions]) await s.close();
        await tail; // publishes still queued go out before the connection ends
        if (pub) await (await pub).end();
      },
    };
  },
};
