import { z } from "zod";
import { parseJsonOrUndefined } from "../json/parse-json.js";
import type { Sleeper } from "../clock.js";
import type { Logger } from "../log/logger.js";
import type { RedisConnection } from "./redis-connection.js";
import { RedisKeys } from "./redis-keys.js";

/**
 * Fleet heartbeats: every instance publishes a small record of its own provider state to Redis
 * with a TTL, and the status route reads all of them. Metadata only (times, error codes, circuit
 * state): no token, secret or fingerprint of one goes here.
 */
export const INSTANCE_ID = /^[A-Za-z0-9._-]{1,64}$/;

const Millis = z.number().int().nonnegative();

/** A provider appears only when there is something to say (a token, an error, a circuit not closed). */
export const ProviderBeatSchema = z
  .object({
    expires_at: Millis.optional(),
    last_refresh_at: Millis.optional(),
    last_error: z
      .object({ code: z.string().regex(/^[a-z_]{1,64}$/), at: Millis })
      .strict()
      .optional(),
    circuit: z.enum(["open", "half-open"]).optional(),
  })
  .strict();
export type ProviderBeat = z.infer<typeof ProviderBeatSchema>;

export const HeartbeatSchema = z
  .object({
    v: z.literal(1),
    instance: z.string().regex(INSTANCE_ID),
    started_at: Millis,
    version: z.string().max(64),
    published_at: Millis,
    /** Redis operations of this instance degraded since its previous heartbeat. */
    degraded: z.boolean(),
    providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/), ProviderBeatSchema),
  })
  .strict();
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

const PUBLISH_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`;

export interface RedisHeartbeatsOptions {
  connection: RedisConnection;
  logger: Logger;
  keys?: RedisKeys;
  /** Instances read at most (newest first). */
  maxInstances?: number;
  /** A stored heartbeat longer than this is ignored (a read of an outside answer is bounded). */
  maxBytes?: number;
}

export class RedisHeartbeats {
  private readonly keys: RedisKeys;
  private readonly maxInstances: number;
  private readonly maxBytes: number;

  constructor(private readonly options: RedisHeartbeatsOptions) {
    this.keys = options.keys ?? new RedisKeys();
    this.maxInstances = options.maxInstances ?? 500;
    this.maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  }

  /** Stores the heartbeat for `ttlMs`; false when Redis did not take it (counted by the connection). */
  async publish(beat: Heartbeat, ttlMs: number): Promise<boolean> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    const result = await this.options.connection.run("heartbeat", (client) =>
      client.eval(PUBLISH_SCRIPT, {
        keys: [this.keys.heartbeat(beat.instance), this.keys.heartbeatIndex()],
        arguments: [JSON.stringify(beat), ttl, String(beat.published_at), beat.instance, String(beat.published_at - ttlMs)],
      }),
    );
    return result.ok;
  }

  /** Every heartbeat still stored, newest first; undefined when Redis could not be read. */
  async read(): Promise<Heartbeat[] | undefined> {
    const index = this.keys.heartbeatIndex();
    const ids = await this.options.connection.run("heartbeat_read", (client) => client.zRange(index, 0, this.maxInstances - 1, { REV: true }));
    if (!ids.ok) return undefined;
    const wanted = ids.value.filter((id) => INSTANCE_ID.test(id));
    if (wanted.length === 0) return [];
    const values = await this.options.connection.run("heartbeat_read", (client) => client.mGet(wanted.map((id) => this.keys.heartbeat(id))));
    if (!values.ok) return undefined;
    const beats: Heartbeat[] = [];
    let ignored = 0;
    for (const raw of values.value) {
      if (raw === null) continue; // expired since the index was read
      const beat = raw.length <= this.maxBytes ? parseBeat(raw) : undefined;
      if (beat === undefined) ignored++;
      else beats.push(beat);
    }
    if (ignored > 0) this.options.logger.log("warn", "heartbeat_ignored", { count: ignored, reason: "malformed_or_too_large" });
    return beats;
  }

  async remove(instanceId: string): Promise<void> {
    await this.options.connection.run("heartbeat", (client) =>
      client.multi().del(this.keys.heartbeat(instanceId)).zRem(this.keys.heartbeatIndex(), instanceId).exec(),
    );
  }
}

function parseBeat(raw: string): Heartbeat | undefined {
  const parsed = HeartbeatSchema.safeParse(parseJsonOrUndefined(raw));
  return parsed.success ? parsed.data : undefined;
}

export interface HeartbeatLoopOptions {
  heartbeats: RedisHeartbeats;
  connection: RedisConnection;
  sleeper: Sleeper;
  intervalMs: number;
  /** How long a heartbeat stays in Redis after its publish. */
  ttlMs: number;
  /** This instance's heartbeat as of now. */
  beat(): Heartbeat;
}

/** While Redis is unreachable the loop only waits: the outage is already counted and logged elsewhere. */
const RECONNECT_POLL_MS = 500;

/**
 * Publishes this instance's heartbeat now and then every `intervalMs`, through the injected
 * sleeper. Runs on every instance (the maintenance timer runs on one only). `stop()` ends the
 * loop and deletes this instance's heartbeat, so a graceful stop is not shown as a stale instance.
 */
export function startHeartbeatLoop(options: HeartbeatLoopOptions): { stop(): Promise<void> } {
  const stopping = new AbortController();
  let instance: string | undefined;
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      let waitMs = RECONNECT_POLL_MS;
      if (options.connection.healthy) {
        const beat = options.beat();
        instance = beat.instance;
        await options.heartbeats.publish(beat, options.ttlMs);
        waitMs = options.intervalMs;
      }
      try {
        await options.sleeper.sleep(Math.min(waitMs, options.intervalMs), stopping.signal);
      } catch {
        return;
      }
    }
  })();
  return {
    async stop() {
      stopping.abort();
      await loop;
      if (instance !== undefined) await options.heartbeats.remove(instance);
    },
  };
}
