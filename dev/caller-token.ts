import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { CALLER_ISSUER_JWKS_PATH, DEFAULT_ISSUER_DIR, DEMO_AUDIENCE, DEMO_ISSUER, LocalCallerIssuer } from "./caller-issuer.js";

/**
 * `npm run caller-token -- <caller>`: prints a caller JWT the local broker accepts, and nothing
 * else on stdout, so `TOKEN=$(npm run --silent caller-token -- orders)` works. Run from the repo
 * root: it shares `.local/issuer` with the broker and reads the demo configuration to check the
 * caller and to use the caller's id, issuer and audience.
 */
const DEMO_CONFIG = "dev/demo/broker.config.json";

/** Only the parts of the broker configuration this tool needs; the broker validates the rest. */
const DemoConfigSchema = z
  .object({
    issuers: z
      .record(
        z.string(),
        z
          .object({
            issuer: z.string().min(1),
            audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
            jwksUri: z.string().optional(),
          })
          .loose(),
      )
      .default({}),
    callers: z.record(z.string(), z.object({ id: z.string().min(1).optional(), issuer: z.string().optional() }).loose()).default({}),
  })
  .loose();

interface Target {
  id: string;
  issuer: string;
  audience: string;
}

function fail(message: string): never {
  process.stderr.write(message + "\n");
  process.exit(2);
}

function resolveTarget(requested: string | undefined): Target {
  if (!existsSync(DEMO_CONFIG)) {
    if (!requested) fail(`usage: npm run caller-token -- <caller id>\n(no ${DEMO_CONFIG} found, so any id is accepted)`);
    return { id: requested, issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(DEMO_CONFIG, "utf8"));
  } catch (error) {
    fail(`${DEMO_CONFIG}: not readable JSON (${(error as Error).message})`);
  }
  const parsed = DemoConfigSchema.safeParse(raw);
  if (!parsed.success) fail(`${DEMO_CONFIG}: callers/issuers are not valid: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  const { callers, issuers } = parsed.data;
  const known = Object.entries(callers).map(([name, caller]) => (caller.id && caller.id !== name ? `${name} (id ${caller.id})` : name));
  const list = known.length ? `known callers: ${known.join(", ")}` : `${DEMO_CONFIG} defines no callers`;
  if (!requested) fail(`usage: npm run caller-token -- <caller>\n${list}`);
  // Accept the caller's name or its id: both identify the same entry.
  const entry = Object.entries(callers).find(([name]) => name === requested) ?? Object.entries(callers).find(([, caller]) => caller.id === requested);
  if (!entry) fail(`unknown caller "${requested}"; ${list}`);
  const [name, caller] = entry;
  const issuer = caller.issuer === undefined ? undefined : issuers[caller.issuer];
  if (issuer?.jwksUri !== undefined && !issuer.jwksUri.endsWith(CALLER_ISSUER_JWKS_PATH)) {
    // Still mint (stdout stays clean), but say why the broker may refuse the token.
    process.stderr.write(`note: caller "${name}" trusts issuer "${caller.issuer}", whose keys are not the local issuer's (${issuer.jwksUri})\n`);
  }
  const audience = issuer === undefined ? DEMO_AUDIENCE : Array.isArray(issuer.audience) ? issuer.audience[0] : issuer.audience;
  return { id: caller.id ?? name, issuer: issuer?.issuer ?? DEMO_ISSUER, audience: audience ?? DEMO_AUDIENCE };
}

const target = resolveTarget(process.argv[2]);
const issuer = await LocalCallerIssuer.load(DEFAULT_ISSUER_DIR);
const token = await issuer.mint(target.id, { issuer: target.issuer, audience: target.audience });
process.stdout.write(token + "\n");
