/**
 * The fan-out's resume logic, without sockets: a client resuming from behind gets
 * what it missed; one resuming from ahead of a restarted relay waits for the stream
 * to reach its cursor and is sent nothing it already has.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { StreamFanout } from "../transports/fanout.js";

const frame = (seq: number): string => `f${seq}`;

test("a client resuming from behind is sent what it missed, then every new frame", () => {
  const fanout = new StreamFanout<string, string>(1, 100);
  for (let seq = 1; seq <= 5; seq++) fanout.publish(0, seq, frame(seq));
  assert.deepEqual(fanout.subscribe(0, "client", 4), ["f4", "f5"]);
  assert.deepEqual([...fanout.publish(0, 6, frame(6))], ["client"]);
  assert.equal(fanout.replayed, 2);
});

test("a client resuming from ahead of the relay waits until the stream reaches its cursor", () => {
  const fanout = new StreamFanout<string, string>(1, 100);
  // A restarted relay has got to seq 2 of its refill; the client already holds up to 4.
  fanout.publish(0, 1, frame(1));
  fanout.publish(0, 2, frame(2));
  assert.deepEqual(fanout.subscribe(0, "client", 5), [], "nothing it has is replayed");
  assert.equal(fanout.count(), 1, "it is a connection of the relay while it waits");
  assert.deepEqual([...fanout.all()], ["client"], "and gets heartbeats and the close");
  assert.deepEqual([...fanout.publish(0, 3, frame(3))], [], "seq 3 is not sent to it");
  assert.deepEqual([...fanout.publish(0, 4, frame(4))], [], "nor seq 4");
  assert.deepEqual([...fanout.publish(0, 5, frame(5))], ["client"], "seq 5 is, and everything after");
  assert.deepEqual([...fanout.publish(0, 6, frame(6))], ["client"]);
  assert.equal(fanout.count(), 1);
});

test("a waiting client whose cursor the stream skips (a broker without history) is attached at the first later frame", () => {
  const fanout = new StreamFanout<string, string>(1, 100);
  assert.deepEqual(fanout.subscribe(0, "client", 50), []);
  assert.deepEqual([...fanout.publish(0, 80, frame(80))], ["client"], "the gap 50..79 is the client's to count as lost");
});

test("a waiting client that leaves is forgotten", () => {
  const fanout = new StreamFanout<string, string>(1, 100);
  fanout.subscribe(0, "client", 10);
  fanout.unsubscribe(0, "client");
  assert.equal(fanout.count(), 0);
  assert.deepEqual([...fanout.publish(0, 10, frame(10))], []);
});
