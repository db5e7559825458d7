/**
 * The chat scenario: two-way traffic. Every client also sends upstream, open loop, at
 * upRate messages per second, the way its transport's applications do (Transport.upstream:
 * a WebSocket frame, a POST beside an event stream, a Socket.IO emit, a broker publish).
 * The relay takes each message, times it (upstream latency), and publishes it to the
 * broker on its room's topic; every relay fans it out to the room, so each member times
 * the others' messages (room latency) and counts them per sender. Clients are in rooms
 * of roomSize, client c in room c mod rooms.
 */
import type { Workload } from "../../results/schema.js";
import type { Scenario } from "./scenario.js";

/** Rooms and the total upstream rate a chat cell runs with. */
export function chatWorkload(w: Workload): Workload {
  const rooms = w.roomSize > 0 ? Math.ceil(w.clients / w.roomSize) : 1;
  return { ...w, topics: rooms, rate: w.clients * w.upRate };
}

export const chat: Scenario = {
  name: "chat",
  summary: "two-way: every client sends upRate/s upstream, rooms of roomSize get each other's messages: upstream and room latency, loss per sender, bytes up and down per message, relay CPU per upstream message",
  fields: [
    { key: "upRate", kind: "number", min: 0.01, max: 10_000, help: "chat scenario: messages per second each client sends upstream (2)" },
    { key: "roomSize", kind: "int", min: 0, max: 1_000_000, help: "chat scenario: clients per room, 0 for one room of everyone (0)" },
    { key: "upAck", kind: "choice", choices: () => ["off", "on"], help: "chat scenario: ask for an acknowledgement of each upstream message where it is optional, a Socket.IO emit's callback (off)" },
  ],
  upstream: true,
  cellWorkload: chatWorkload,
  check(w) {
    if (w.topics !== 1) return `field "topics": the chat scenario's rooms come from roomSize (clients / roomSize of them): expected 1, got ${w.topics}`;
    if (w.clients < 2) return `field "clients": a chat needs two clients at least, got ${w.clients}`;
    if (w.roomSize === 1) return `field "roomSize": a room of one has nobody to deliver to: expected 0 (one room) or 2 or more`;
    if (w.roomSize > w.clients) return `field "roomSize": ${w.roomSize} is more than the ${w.clients} clients`;
    if (w.reconnect !== "none") return `field "reconnect": the chat scenario keeps its connections, expected none, got ${w.reconnect}`;
    return null;
  },
  pairingProblem(transport, broker) {
    if (!transport.upstream) return `${transport.name} × ${broker.name}: ${transport.name} has no upstream path in rtbench yet (the chat scenario's client-to-server messages)`;
    return null;
  },
};
