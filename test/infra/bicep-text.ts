import { readFileSync } from "node:fs";

/**
 * Reading the Bicep templates as text. No Bicep compiler is available offline (it ships as a
 * .NET binary from GitHub, not through npm or Debian), so the infrastructure tests read the few
 * constructs they check (parameters, the names object, resource blocks, app settings) from the
 * source, and fail loudly when a construct they expect is missing.
 */
export function readInfra(file: string): string {
  return readFileSync(`infra/${file}`, "utf8");
}

export interface BicepParam {
  type: string;
  default?: string;
  decorators: string[];
}

/** Every `param name type [= default]` with the decorator lines just above it. */
export function params(text: string): Map<string, BicepParam> {
  const found = new Map<string, BicepParam>();
  const lines = text.split("\n");
  for (const [i, line] of lines.entries()) {
    const m = /^param (\w+) (\w+)(?: = (.+))?$/.exec(line.trim());
    if (!m) continue;
    const decorators: string[] = [];
    for (let j = i - 1; j >= 0 && lines[j]!.trim().startsWith("@"); j--) decorators.unshift(lines[j]!.trim());
    found.set(m[1]!, { type: m[2]!, default: m[3], decorators });
  }
  return found;
}

/** The body of the first `{ ... }` block starting on the line matching `header`, braces balanced. */
export function block(text: string, header: RegExp): string {
  const start = text.search(header);
  if (start < 0) throw new Error(`no block matching ${header}`);
  const open = text.indexOf("{", start);
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error(`unbalanced block after ${header}`);
}

/** `key: 'template'` entries of an object literal whose values are plain (interpolated) strings. */
export function stringEntries(body: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of body.split("\n")) {
    const m = /^\s*(\w+): '([^']*)'\s*(\/\/.*)?$/.exec(line);
    if (m) entries.set(m[1]!, m[2]!);
  }
  return entries;
}

/** Fills `${name}` interpolations; an unknown name is an error, not an empty string. */
export function interpolate(template: string, values: Record<string, string>): string {
  return template.replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`unknown interpolation \${${name}} in '${template}'`);
    return value;
  });
}

/** Every `resource symbol 'Type@version' = [if (...)] {` declaration. */
export function resources(text: string): { symbol: string; type: string; apiVersion: string; body: string }[] {
  const found: { symbol: string; type: string; apiVersion: string; body: string }[] = [];
  for (const m of text.matchAll(/^resource (\w+) '([^'@]+)@([^']+)' = /gm)) {
    found.push({ symbol: m[1]!, type: m[2]!, apiVersion: m[3]!, body: block(text.slice(m.index), /=/) });
  }
  return found;
}
