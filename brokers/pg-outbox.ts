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

export const pgOutbox: Broker = {
  name: "pg-outbox",
  summary: "transactional outbox on PostgreSQL: insert per transaction, relay by LISTEN/NOTIFY plus polling",
  capabilities: { durable: true, replay: true, ordering: "per-topic", ackLevels: ["commit"] },
  inProcess: false,
  server: "postgres",
  standardUrl: STANDARD_URL,
  urlSchemes: ["postgres:", "postgresql:"],
  async connect(options): Promise<BrokerConnection> {
    const pub = await client(options);
    await pub.query(`CREATE TABLE IF NOT EXISTS ${OUTBOX_TABLE} (id bigserial PRIMARY KEY, topic text NOT NULL, payload bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
    await pub.query(`CREATE INDEX IF NOT EXISTS ${OUTBOX_TABLE}_topic_id ON ${OUTBOX_TABLE} (topic, id)`);
    const subscriptions = new Set<{ close(): Promise<void> }>();
    return {
      publish(topic, message) {
        // One statement is one transaction: the row and its notification commit together.
        return pub
          .query(`WITH row AS (INSERT INTO ${OUTBOX_TABLE} (topic, payload) VALUES ($1, $2) RETURNING id) SELECT pg_notify('${CHANNEL}', $1) FROM row`, [topic, message])
          .then(() => undefined);
      },
      async subscribe(topic, onMessage, opts) {
        const reader = await client(options);
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
        await pub.end();
      },
    };
  },
};
