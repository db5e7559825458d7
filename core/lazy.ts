/**
 * A module loaded on first use, once: a process that never talks to Kafka or serves
 * Socket.IO does not pay for loading their libraries (each relay, producer and fleet
 * process would otherwise load them all).
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => (loading ??= load());
}
