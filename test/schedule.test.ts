import assert from "node:assert/strict";
import { test } from "node:test";
import { OpenLoopSchedule } from "../core/schedule.js";

test("intended times are evenly spaced from the start, whatever was sent before", () => {
  const s = new OpenLoopSchedule(1_000_000, 1000, 5);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => s.intendedAt(i)), [1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000]);
});

test("dueBy counts the messages whose time has come, capped at the total", () => {
  const s = new OpenLoopSchedule(0, 100, 10); // one per 10 ms
  assert.equal(s.dueBy(-1), 0);
  assert.equal(s.dueBy(0), 1);
  assert.equal(s.dueBy(9_999_999), 1);
  assert.equal(s.dueBy(10_000_000), 2);
  // A producer that wakes 35 ms late owes four messages at once: none are skipped.
  assert.equal(s.dueBy(35_000_000), 4);
  assert.equal(s.dueBy(1e12), 10);
});

test("countFor rounds rate × seconds and never plans zero messages", () => {
  assert.equal(OpenLoopSchedule.countFor(1000, 12), 12_000);
  assert.equal(OpenLoopSchedule.countFor(0.5, 1), 1);
  assert.throws(() => new OpenLoopSchedule(0, 0, 1), /rate must be > 0/);
});
