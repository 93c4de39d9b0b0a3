import { redisServerAvailable } from "../../dev/redis-server.js";

/**
 * For `describe(title, { skip: redisSkipReason() }, ...)`: undefined when redis-server is on
 * PATH; a visible skip message when it is not; with REQUIRE_REDIS_TESTS=1 a missing server is an
 * error (CI must not pass by skipping).
 */
export function redisSkipReason(): string | undefined {
  if (redisServerAvailable()) return undefined;
  if (process.env.REQUIRE_REDIS_TESTS === "1") {
    throw new Error("REQUIRE_REDIS_TESTS=1 but redis-server is not on PATH (apt-get install redis-server)");
  }
  const reason = "redis-server not on PATH: Redis tests skipped (set REQUIRE_REDIS_TESTS=1 to fail instead)";
  console.warn(`# ${reason}`);
  return reason;
}
