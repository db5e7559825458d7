/**
 * Child process for the producer when the broker is a real server, so its CPU and
 * memory are its own and it keeps publishing while a fault kills the relay.
 * (An in-process broker keeps the producer inside the relay process.)
 */
import { connectBroker } from "./relay.js";
import { closeWithin, send, sendFinal, serveCoordinator, TEARDOWN_MS, type ProducerPlan, type StartTimes } from "./ipc.js";
import { brokerErrorsReport } from "../brokers/errors.js";
import { produceForCoordinator, type RunningProducer } from "./producer.js";
import { Sampler } from "../core/sampler.js";
import type { BrokerConnection } from "../brokers/broker.js";

let plan: ProducerPlan | undefined;
let conn: BrokerConnection | undefined;
let producer: RunningProducer | undefined;
const sampler = new Sampler();

function start(times: StartTimes): void {
  if (!plan || !conn) throw new Error("start before init");
  sampler.start(times.startAt);
  producer = produceForCoordinator(conn, plan, times);
}

serveCoordinator(async (m) => {
  switch (m.kind) {
    case "init-producer":
      plan = m.plan;
      conn = await connectBroker(plan);
      send(process, { kind: "producer-ready" });
      break;
    case "start":
      start(m.times);
      break;
    case "settle":
      if (!producer) throw new Error("settle before start");
      send(process, { kind: "settled", unacknowledged: await producer.unacknowledged(m.timeoutMs) });
      break;
    case "stop-producing":
      producer?.stop();
      break;
    case "stop": {
      producer?.stop();
      const samples = sampler.stop();
      const teardownError = conn ? await closeWithin(conn.close(), TEARDOWN_MS, "closing the producer's broker connection") : undefined;
      sendFinal({ kind: "producer-result", samples, ...brokerErrorsReport(), ...(teardownError ? { teardownError } : {}) });
      break;
    }
    default:
      throw new Error(`producer: unexpected message ${m.kind}`);
  }
});
