import { randomUUID } from "node:crypto";
import { z } from "zod";
import { parseJsonOrUndefined } from "../json/parse-json.js";
import type { Logger } from "../log/logger.js";
import type { RedisConnection } from "./redis-connection.js";
import { RedisKeys } from "./redis-keys.js";

export interface RedisInvalidationBusOptions {
  connection: RedisConnection;
  logger: Logger;
  /** Namespaces the channel, so several brokers can share one Redis. */
  keys?: RedisKeys;
  /** Identifies this instance's own messages (default: a random id). */
  instanceId?: string;
}

const MessageSchema = z
  .object({
    provider: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    origin: z.string().min(1).max(100),
  })
  .strict();

/**
 * Provider invalidations over Redis pub/sub. Listeners hear only the other instances: the
 * publisher has already dropped its own cache, and hearing itself would drop a credential it may
 * have fetched again in the meantime. Pub/sub is fire-and-forget: an instance that is
 * disconnected at that moment misses the message and keeps its credential until refresh; the
 * shared store entries are deleted by the publisher, so nobody re-reads the old one.
 */
export class RedisInvalidationBus {
  private readonly channel: string;
  private readonly instanceId: string;

  constructor(private readonly options: RedisInvalidationBusOptions) {
    this.channel = (options.keys ?? new RedisKeys()).invalidationChannel();
    this.instanceId = options.instanceId ?? randomUUID();
  }

  /** Never rejects; a failure is counted and logged by the connection. */
  async publish(provider: string): Promise<void> {
    const sent = await this.options.connection.publish(this.channel, JSON.stringify({ provider, origin: this.instanceId }));
    if (!sent) this.options.logger.log("warn", "invalidation_not_published", { provider });
  }

  subscribe(listener: (provider: string) => void): void {
    this.options.connection.subscribe(this.channel, (raw) => {
      const message = MessageSchema.safeParse(parseJsonOrUndefined(raw));
      if (!message.success) {
        this.options.logger.log("warn", "invalidation_message_ignored", { reason: "malformed" });
        return;
      }
      if (message.data.origin === this.instanceId) return;
      listener(message.data.provider);
    });
  }
}
