import assert from "node:assert/strict";
import { test } from "node:test";
import { ReplayBuffer } from "../core/replay.js";

test("replay returns frames from a sequence on, oldest first", () => {
  const r = new ReplayBuffer<string>(10);
  for (let s = 1; s <= 5; s++) r.push(s, `f${s}`);
  assert.deepEqual(r.since(3), ["f3", "f4", "f5"]);
  assert.deepEqual(r.since(6), []);
});

test("the buffer is bounded: only the newest frames are kept", () => {
  const r = new ReplayBuffer<number>(3);
  for (let s = 1; s <= 7; s++) r.push(s, s * 10);
  assert.equal(r.length, 3);
  assert.deepEqual(r.since(1), [50, 60, 70]);
});
