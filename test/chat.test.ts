/**
 * The chat scenario against known answers: six clients in two rooms of three, each
 * sending 10 messages a second upstream. Every message reaches the two other members
 * of its room once (and its sender once, as an echo, counted apart), over a WebSocket
 * frame and over SSE with a POST beside it. A delay of 40 ms each way in the clients'
 * path shows once in upstream latency and twice in room latency. Direct clients publish
 * to NATS themselves, and their broker sockets' bytes are counted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CellResult } from "../results/schema.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

const DELAY_MS = 40;

function chatRun(transports: string, env: Record<string, string> = {}, broker = "inproc"): Promise<CellResult[]> {
  const out = tempDir();
  return runCli(
    ["run", "--scenario", "chat", "--transports", transports, "--brokers", broker, "--clients", "6", "--room-size", "3", "--up-rate", "10",
      "--duration", "2", "--warmup", "0.5", "--drain", "2", "--out", out],
    { timeoutMs: 120_000, env: { RTBENCH_BROKERS_DIR: tempDir(), ...env } },
  ).then((r) => {
    assert.equal(r.code, 0, r.stderr);
    return readOnlyRun(out).cells;
  });
}

test("chat: a room of K gets K−1 deliveries per message, timed upstream and in the room", async () => {
  const cells = await chatRun("ws,sse,grpc");
  for (const cell of cells) {
    const name = cell.transport;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    const chat = cell.chat!;
    // 6 clients × 10/s over 2.5 s: 150 messages, 25 per sender, each to the 2 others of its room.
    assert.equal(cell.published, 150, name);
    assert.equal(cell.counts.expected, 300, `${name}: two others per message`);
    assert.equal(cell.counts.delivered, 300, `${name}: none lost`);
    assert.equal(cell.counts.duplicated + cell.counts.reordered, 0, name);
    assert.equal(chat.rooms, 2, name);
    assert.equal(chat.upstreamReceived, 150, `${name}: the relay took every message`);
    assert.equal(chat.echoes, 150, `${name}: each sender got its own back once, apart from the count`);
    assert.ok(chat.upstreamUs && chat.upstreamUs.count > 0 && chat.upstreamUs.p50 < DELAY_MS * 1000, `${name}: upstream latency, low without the delay (${chat.upstreamUs?.p50} µs)`);
    assert.ok(chat.bytesUpPerMessage! >= 256 && chat.bytesDownPerDelivery! >= 256, `${name}: bytes up ${chat.bytesUpPerMessage}, down ${chat.bytesDownPerDelivery} per message of 256`);
    assert.ok(chat.relayCpuUsPerUpMessage! > 0, name);
  }
  // A POST is answered; a WebSocket frame is not.
  assert.ok(cells.find((c) => c.transport === "sse")!.chat!.upAckUs!.count > 0);
  assert.equal(cells.find((c) => c.transport === "ws")!.chat!.upAckUs, undefined);
  assert.deepEqual(await rtbenchChildren(), []);
});

test("chat: a delay in the clients' path shows once upstream and twice in the room", async () => {
  const [cell] = await chatRun("ws", { RTBENCH_TEST_CLIENT_DELAY_MS: String(DELAY_MS) });
  assert.equal(cell!.status, "ok", cell!.error);
  assert.equal(cell!.counts.lost, 0);
  const up = cell!.chat!.upstreamUs!;
  assert.ok(up.p50 >= DELAY_MS * 1000 && up.p50 < 2 * DELAY_MS * 1000, `upstream p50 ${up.p50} µs: one ${DELAY_MS} ms leg`);
  const room = cell!.latencyUs;
  assert.ok(room.p50 >= 2 * DELAY_MS * 1000 && room.p50 < 3 * DELAY_MS * 1000, `room p50 ${room.p50} µs: up and down, two legs`);
});

test("chat, direct × nats: clients publish to the broker themselves, timed to a round trip behind the publish, bytes counted on their broker sockets", async () => {
  const [cell] = await chatRun("direct", {}, "nats");
  assert.equal(cell!.status, "ok", cell!.error);
  const chat = cell!.chat!;
  assert.equal(cell!.counts.delivered, 300, "two others per message, none lost");
  assert.equal(chat.echoes, 150);
  // Core NATS acknowledges no publish: the PONG to a PING sent after it says the server has it.
  assert.equal(chat.upstreamEndsAt, "broker round trip");
  assert.equal(chat.upstreamReceived, 150);
  assert.ok(chat.upstreamUs && chat.upstreamUs.count > 0 && chat.upstreamUs.p50 < DELAY_MS * 1000, `upstream p50 ${chat.upstreamUs?.p50} µs`);
  // A PUB of 256 bytes plus its PING up; a MSG of 256 bytes down, each with its protocol line.
  assert.ok(chat.bytesUpPerMessage! > 256 && chat.bytesUpPerMessage! < 512, `bytes up ${chat.bytesUpPerMessage} per message of 256`);
  assert.ok(chat.bytesDownPerDelivery! > 256 && chat.bytesDownPerDelivery! < 512, `bytes down ${chat.bytesDownPerDelivery} per delivery of 256`);
  assert.equal(chat.relayCpuUsPerUpMessage, null, "no relay in the path");
  assert.deepEqual(await rtbenchChildren(), []);
});
