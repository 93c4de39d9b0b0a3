import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ASPNET_MESSAGES, aspnetRouteTemplateError } from "../../../dev/host/aspnet-route-rules.js";
import { FunctionValidationError, HOST_MESSAGES } from "../../../dev/host/function-validation.js";
import { startLocalHost } from "../../../dev/host/local-host.js";
import { WorkerIndexingError } from "../../../dev/host/worker-indexing.js";

// Fixture modules are imported by the host only (see local-host.test.ts).
const fixture = (name: string) => new URL(`../../fixtures/functions/${name}.js`, import.meta.url).href;

/** Starts a host on the fixtures and returns the problems it refused them with. */
async function refusal(modules: string[]): Promise<string[]> {
  const lines: string[] = [];
  let problems: string[] | undefined;
  await assert.rejects(startLocalHost({ modules: modules.map(fixture), enableTimers: false, log: (l) => lines.push(l) }), (error: unknown) => {
    assert.ok(error instanceof FunctionValidationError, String(error));
    assert.match(error.message, /^The Functions host would not load these functions:\n {2}- /);
    problems = error.problems;
    return true;
  });
  assert.ok(!lines.some((l) => l.includes("listening")), "never listened");
  return problems ?? [];
}

const inError = HOST_MESSAGES.inError;

describe("the local host applies the Functions host's validation at start-up", () => {
  test("refuses every route whose first characters are admin or runtime (prefix match, any case, trimmed), with the host's message", async () => {
    assert.deepEqual(await refusal(["reserved-routes"]), [
      inError("admin", "The specified route conflicts with one or more built in routes."),
      inError("adminNested", HOST_MESSAGES.reservedRoute),
      inError("administration", HOST_MESSAGES.reservedRoute),
      inError("runtimeNested", HOST_MESSAGES.reservedRoute),
      inError("trimmedAdmin", HOST_MESSAGES.reservedRoute),
    ]);
  });

  test("refuses two functions with the same route and an overlapping method, and a reused name", async () => {
    assert.deepEqual(await refusal(["route-conflicts"]), [
      inError("sameRoute", "The route specified conflicts with the route defined by function 'first'."),
      inError("anyMethod", HOST_MESSAGES.routeConflict("first")),
      inError("First", "The function or proxy name 'First' must be unique within the function app."),
    ]);
  });

  test("refuses names outside the host's rule", async () => {
    const TOO_LONG = "n".repeat(129);
    assert.deepEqual(
      await refusal(["bad-names"]),
      ["host", "1st", "has space", "dotted.name", TOO_LONG].map((name) => inError(name, `'${name}' is not a valid function name.`)),
    );
  });

  test("refuses route templates ASP.NET Core rejects with its message, and templates this host cannot serve", async () => {
    assert.deepEqual(await refusal(["bad-templates"]), [
      inError("unclosed", ASPNET_MESSAGES.mismatchedParameter),
      inError("doubleSlash", ASPNET_MESSAGES.consecutiveSeparators),
      inError("repeated", "The route parameter name 'ID' appears more than one time in the route template."),
      inError("tilde", ASPNET_MESSAGES.invalidRouteTemplate),
      inError("catchAllMiddle", ASPNET_MESSAGES.catchAllMustBeLast),
      inError("adjacent", ASPNET_MESSAGES.consecutiveParameters),
      inError("unknownConstraint", ASPNET_MESSAGES.unresolvedConstraint("id", "foo", "t/{id:foo}")),
      // Mapped as "api/" + route: "api//t/lead".
      inError("leadingSlash", ASPNET_MESSAGES.consecutiveSeparators),
      inError("emptyName", ASPNET_MESSAGES.invalidParameterName("")),
      inError("question", ASPNET_MESSAGES.invalidLiteral("a?b")),
      inError(
        "regexConstraint",
        'invalid route "t/{id:regex(^x$)}": segment "{id:regex(^x$)}" has a constraint (":regex(^x$)"); the local host emulates literal segments, {name} and a trailing {name?} (not supported by the local host)',
      ),
    ]);
  });
});

describe("the local host applies the Node.js worker's indexing rules", () => {
  test("an entry file that throws after registering fails start-up with the worker's text; later files are not loaded", async () => {
    await assert.rejects(
      startLocalHost({ modules: ["registers-then-throws", "never-loaded"].map(fixture), enableTimers: false, log: () => {} }),
      (error: unknown) => {
        assert.ok(error instanceof WorkerIndexingError);
        assert.match(
          error.message,
          /^Worker failed to index functions: Worker was unable to load entry point "dist\/test\/fixtures\/functions\/registers-then-throws\.js": cannot start: field\.a is bad, field\.b is bad\n/,
        );
        assert.deepEqual(error.registered, ["registered"]);
        return true;
      },
    );
  });

  test("an app that registered nothing is an error, not an empty app", async () => {
    await assert.rejects(startLocalHost({ modules: [fixture("throws-before-registering")], log: () => {} }), (error: unknown) => {
      assert.ok(error instanceof WorkerIndexingError);
      assert.match(error.message, /^No function registered\. .*empty app/);
      assert.match(error.message, /The entry files failed before any registration: Worker was unable to load entry point ".*throws-before-registering\.js": failed before registering anything$/);
      assert.deepEqual(error.registered, []);
      return true;
    });
  });
});

describe("ASP.NET Core route template rules", () => {
  test("accepts what the broker and common apps use", () => {
    for (const t of ["token/{provider}", "ops/providers/{provider}/refresh", "health", "", "a/", "{file}.{ext?}", "x/{*rest}", "x/{id:int=5}", "x/{{literal}}"]) {
      assert.equal(aspnetRouteTemplateError(t), undefined, t);
    }
  });

  test("refuses optional parameters that are not last in their segment or follow anything but a period", () => {
    assert.equal(aspnetRouteTemplateError("{a?}.{b}"), ASPNET_MESSAGES.optionalMustBeLast("{a?}.{b}", "a", "."));
    assert.equal(aspnetRouteTemplateError("x-{a?}"), ASPNET_MESSAGES.optionalPrecededByPeriod("x-{a?}", "a", "x-"));
    assert.equal(aspnetRouteTemplateError("{*a?}"), ASPNET_MESSAGES.catchAllCannotBeOptional);
    assert.equal(aspnetRouteTemplateError("{a=1?}"), ASPNET_MESSAGES.optionalCannotHaveDefault);
    assert.equal(aspnetRouteTemplateError("x{*a}"), ASPNET_MESSAGES.catchAllInMultiSegment);
    assert.equal(aspnetRouteTemplateError("{a{b}"), ASPNET_MESSAGES.unescapedBrace);
    assert.equal(aspnetRouteTemplateError("a}b"), ASPNET_MESSAGES.mismatchedParameter);
  });
});
