/**
 * In-process publish/subscribe behind a small interface, so a Postgres- or Redis-backed bus
 * can replace it when several instances run. Channels are plain strings
 * (e.g. `conversation:<sId>`, `message:<sId>`, `relay:<serverId>`).
 * @module
 */

export type Listener = (payload: unknown) => void;

export interface EventBus {
  publish(channel: string, payload: unknown): void;
  /** Returns the unsubscribe function. */
  subscribe(channel: string, listener: Listener): () => void;
  /** Number of listeners on a channel (for tests and metrics). */
  listenerCount(channel: string): number;
}

export function createEventBus(onListenerError?: (e: unknown) => void): EventBus {
  const channels = new Map<string, Set<Listener>>();
  return {
    publish(channel, payload) {
      const set = channels.get(channel);
      if (!set) return;
      for (const l of [...set]) {
        try {
          l(payload);
        } catch (e) {
          onListenerError?.(e);
        }
      }
    },
    subscribe(channel, listener) {
      let set = channels.get(channel);
      if (!set) channels.set(channel, set = new Set());
      set.add(listener);
      return () => {
        const s = channels.get(channel);
        if (!s) return;
        s.delete(listener);
        if (s.size === 0) channels.delete(channel);
      };
    },
    listenerCount(channel) {
      return channels.get(channel)?.size ?? 0;
    },
  };
}
