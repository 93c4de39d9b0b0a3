import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig, readConfigFile } from "../../../shared/config/load.js";

const minimal = {
  providers: {
    phixflow: { kind: "api-key", scheme: "header", key: { secret: "phixflow-api-key" } },
  },
  issuers: { local: { issuer: "https://issuer.example", audience: "api://broker", jwksUri: "https://issuer.example/jwks" } },
  callers: { "orders-service": { issuer: "local", providers: ["phixflow"] } },
};

/** The minimal configuration plus a Silverflow provider rotated through its key API. */
function withPartnerRotation(graceMinutes: number): Record<string, any> {
  const raw = structuredClone(minimal) as Record<string, any>;
  raw.providers.silverflow = {
    kind: "api-key",
    scheme: "basic",
    key: { secret: "silverflow-api-key" },
    rotation: { mode: "partner-api", graceMinutes, keyApi: { preset: "silverflow", baseUrl: "https://api.example/v1" } },
  };
  return raw;
}

test("accepts a minimal configuration and fills in defaults", () => {
  const config = parseConfig(JSON.stringify(minimal));
  const provider = config.providers.phixflow!;
  assert.equal(provider.kind, "api-key");
  assert.equal(provider.cache.refreshAheadFraction, 0.75);
  assert.equal(provider.upstream.maxAttempts, 3);
  assert.deepEqual(config.issuers.local!.algorithms, ["RS256"]);
  assert.equal(config.defaultMinTtlSec, 30);
});

test("names every bad field in one error", () => {
  const bad = structuredClone(minimal) as Record<string, any>;
  bad.providers.phixflow.key = { secret: "not a valid name!" };
  bad.providers.Bad_Name = { kind: "oauth2" };
  bad.issuers.local.algorithms = ["HS256"];
  bad.callers["orders-service"].providers = ["nope"];
  bad.callers["orders-service"].issuer = "elsewhere";
  bad.unexpected = true;
  assert.throws(
    () => parseConfig(JSON.stringify(bad), "broker.json"),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const text = error.message;
      for (const fragment of [
        "providers.phixflow.key.secret",
        "Bad_Name",
        "issuers.local.algorithms.0",
        "unexpected",
      ]) {
        assert.match(text, new RegExp(fragment.replace(/\./g, "\\.")), `missing ${fragment} in:\n${text}`);
      }
      assert.ok(error.problems.length >= 4);
      return true;
    },
  );
});

test("cross-checks callers against issuers and providers", () => {
  const bad = structuredClone(minimal) as Record<string, any>;
  bad.callers["orders-service"].providers = ["nope"];
  bad.callers["orders-service"].issuer = "elsewhere";
  assert.throws(() => parseConfig(JSON.stringify(bad)), /callers\.orders-service\.issuer: unknown issuer "elsewhere"[\s\S]*callers\.orders-service\.providers\.0: unknown provider "nope"/);
});

test("refuses a literal secret where a secret reference is required", () => {
  const bad = structuredClone(minimal) as Record<string, any>;
  bad.providers.ayyeka = { kind: "oauth2", tokenUrl: "https://p.example/token", clientId: "id", clientSecret: "plain-text-secret" };
  assert.throws(() => parseConfig(JSON.stringify(bad)), /providers\.ayyeka\.clientSecret/);
});

test("reports invalid JSON without crashing", () => {
  assert.throws(() => parseConfig("{ not json", "x.json"), /x\.json: not valid JSON/);
});

test("a malformed URL is reported as a field error, not a crash", () => {
  const bad = structuredClone(minimal) as Record<string, any>;
  bad.issuers.local.jwksUri = "not a url";
  bad.providers.ayyeka = { kind: "oauth2", tokenUrl: "ftp://p.example/token", clientId: "id", clientSecret: { secret: "s" } };
  assert.throws(() => parseConfig(JSON.stringify(bad)), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /issuers\.local\.jwksUri: must be an http\(s\) URL/);
    assert.match(e.message, /providers\.ayyeka\.tokenUrl: must be an http\(s\) URL/);
    return true;
  });
});

test("a rotation grace period shorter than the key lifetime served to callers is refused", () => {
  const raw = withPartnerRotation(30);
  assert.throws(() => parseConfig(JSON.stringify(raw)), /providers\.silverflow\.rotation\.graceMinutes: must cover the time callers and instances may still use the old key \(.* = 7200 s\)/);
  raw.providers.silverflow.rotation.graceMinutes = 119;
  assert.throws(() => parseConfig(JSON.stringify(raw)), /graceMinutes/, "stale-if-error (maxStaleSec 3600) counts too");
  raw.providers.silverflow.rotation.graceMinutes = 120;
  assert.equal(parseConfig(JSON.stringify(raw)).providers.silverflow!.kind, "api-key");
});

test("a file with field errors still gets its dangling references named in the same report", () => {
  const bad = structuredClone(minimal) as Record<string, any>;
  bad.providers.phixflow.scheme = "nope";
  bad.callers["orders-service"].issuer = "elsewhere";
  bad.callers["orders-service"].providers = ["ghost"];
  bad.providers.minted = { kind: "http-token", url: "https://p.example/mint", authProvider: "missing" };
  assert.throws(() => parseConfig(JSON.stringify(bad)), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    const text = e.problems.join("\n");
    assert.match(text, /providers\.phixflow\.scheme/);
    assert.match(text, /callers\.orders-service\.issuer: unknown issuer "elsewhere"/);
    assert.match(text, /callers\.orders-service\.providers\.0: unknown provider "ghost"/);
    assert.match(text, /providers\.minted\.authProvider: unknown provider "missing"/);
    return true;
  });
});

test("two rotating providers cannot share a key secret (names compare without case)", () => {
  const raw = structuredClone(minimal) as Record<string, any>;
  const rotating = (secret: string) => ({ kind: "api-key", scheme: "header", key: { secret }, rotation: { mode: "operator" } });
  raw.providers.a = rotating("shared-key");
  raw.providers.b = rotating("Shared-Key");
  raw.providers.c = rotating("shared-key-rotation");
  assert.throws(() => parseConfig(JSON.stringify(raw)), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.ok(e.problems.some((p) => p.startsWith("providers.b.key.secret: provider \"a\" already rotates")));
    assert.ok(e.problems.some((p) => p.startsWith("providers.c.key.secret: provider \"a\" already rotates")));
    return true;
  });
});

test("an http-token provider must be authenticated by an api-key provider", () => {
  const raw = structuredClone(minimal) as Record<string, any>;
  raw.providers.idp = { kind: "oauth2", tokenUrl: "https://p.example/token", clientId: "id", clientSecret: { secret: "s" } };
  raw.providers.minted = { kind: "http-token", url: "https://p.example/mint", authProvider: "idp" };
  assert.throws(() => parseConfig(JSON.stringify(raw)), /providers\.minted\.authProvider: must be an api-key provider/);
  raw.providers.minted.authProvider = "phixflow";
  assert.equal(parseConfig(JSON.stringify(raw)).providers.minted!.kind, "http-token");
});

test("duplicate keys at any depth are errors naming their JSON path, not last-wins", () => {
  const text = `{
  "providers": { "phixflow": { "kind": "api-key", "scheme": "header", "key": { "secret": "phixflow-api-key" },
                               "cache": { "maxTtlSec": 60, "maxTtlSec": 600 } } },
  "issuers": { "local": { "issuer": "https://issuer.example", "audience": "api://broker", "jwksUri": "https://issuer.example/jwks" } },
  "callers": {
    "svc": { "issuer": "local", "providers": ["phixflow"] },
    "svc": { "issuer": "local", "roles": ["operator"] }
  }
}`;
  assert.throws(() => parseConfig(text, "broker.json"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.problems, [
      "providers.phixflow.cache.maxTtlSec: duplicate key (first defined on line 3)",
      "callers.svc: duplicate key (first defined on line 6)",
    ]);
    return true;
  });
});

test("reserved names (__proto__, constructor, prototype) are errors naming their path", () => {
  const text = JSON.stringify(minimal).replace('"callers":{', '"callers":{"__proto__":{"issuer":"local","roles":["operator"]},"constructor":{"issuer":"local"},');
  const withPrototype = text.replace('"phixflow":{"kind"', '"prototype":{"kind":"api-key"},"phixflow":{"kind"');
  assert.throws(() => parseConfig(withPrototype), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.ok(e.problems.includes('callers.__proto__: "__proto__" is a reserved name'), e.problems.join("\n"));
    assert.ok(e.problems.includes('callers.constructor: "constructor" is a reserved name'));
    assert.ok(e.problems.includes('providers.prototype: "prototype" is a reserved name'));
    return true;
  });
});

test("a UTF-8 byte order mark is accepted; comments and trailing commas are named with their line", () => {
  assert.equal(parseConfig("\uFEFF" + JSON.stringify(minimal)).providers.phixflow!.kind, "api-key");
  assert.throws(() => parseConfig('{\n  "providers": {},\n}', "f.json"), /f\.json: not valid JSON \(line 3, column 1: /);
  assert.throws(() => parseConfig('{\n  // note\n  "providers": {}\n}'), /line 2, column 3: InvalidCommentToken/);
});

test("a rotation grace period too short is reported in the same run as unrelated field errors", () => {
  const raw = withPartnerRotation(30);
  raw.providers.a = { kind: "api-key", scheme: "header", key: { secret: "shared" }, rotation: { mode: "operator" } };
  raw.providers.b = { kind: "api-key", scheme: "header", key: { secret: "shared" }, rotation: { mode: "operator" } };
  raw.defaultMinTtlSec = -1;
  raw.issuers.local.jwksUri = "not a url";
  assert.throws(() => parseConfig(JSON.stringify(raw)), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    const text = e.problems.join("\n");
    assert.match(text, /defaultMinTtlSec/);
    assert.match(text, /issuers\.local\.jwksUri/);
    assert.match(text, /providers\.silverflow\.rotation\.graceMinutes: must cover/);
    assert.match(text, /providers\.b\.key\.secret: provider "a" already rotates/);
    return true;
  });
});

test("readConfigFile names a missing path, a directory and an unreadable file plainly", () => {
  const dir = mkdtempSync(join(tmpdir(), "config-read-"));
  try {
    assert.throws(() => readConfigFile(join(dir, "nope.json")), /nope\.json: no such file$/);
    assert.throws(() => readConfigFile(dir), new RegExp(`${dir}: is a directory, not a configuration file`));
    const file = join(dir, "locked.json");
    writeFileSync(file, JSON.stringify(minimal), { mode: 0o000 });
    if (process.getuid?.() !== 0) assert.throws(() => readConfigFile(file), /locked\.json: permission denied/);
    chmodSync(file, 0o600);
    writeFileSync(file, "\uFEFF" + JSON.stringify(minimal));
    assert.equal(readConfigFile(file).providers.phixflow!.kind, "api-key");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
