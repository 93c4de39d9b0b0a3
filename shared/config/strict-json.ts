import { printParseErrorCode, visit, type JSONPath } from "jsonc-parser";

/** Names JSON.parse keeps as own properties but that zod records and object spreads drop or misread. */
const RESERVED = new Set(["__proto__", "constructor", "prototype"]);

export interface ScannedJson {
  /** The parsed value; undefined when `syntax` is set. */
  value: unknown;
  /** The first syntax error, with its line and column; the rest of the file is not checked. */
  syntax: string | undefined;
  /** Duplicate keys and reserved names, each with its JSON path, in file order. */
  problems: string[];
}

/**
 * Strict reading of a configuration file: JSON.parse silently keeps the last of two equal keys,
 * so a second `callers.svc` entry would replace the first without a word. jsonc-parser's visitor
 * (the VS Code JSON scanner) reports every property with its path and position, which is exactly
 * what duplicate detection needs; comments and trailing commas stay refused, as in plain JSON.
 * A UTF-8 byte order mark (Windows editors write one) is accepted.
 */
export function scanJson(text: string): ScannedJson {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const problems: string[] = [];
  const objects: Map<string, number>[] = [];
  let syntax: string | undefined;
  visit(
    body,
    {
      onObjectBegin: () => {
        objects.push(new Map());
      },
      onObjectEnd: () => {
        objects.pop();
      },
      onObjectProperty: (property, _offset, _length, line, _column, pathSupplier) => {
        const path = formatPath([...pathSupplier(), property]);
        const seen = objects.at(-1);
        if (RESERVED.has(property)) problems.push(`${path}: "${property}" is a reserved name`);
        const first = seen?.get(property);
        if (first !== undefined) problems.push(`${path}: duplicate key (first defined on line ${first + 1})`);
        else seen?.set(property, line);
      },
      onError: (error, _offset, _length, line, column) => {
        syntax ??= `line ${line + 1}, column ${column + 1}: ${printParseErrorCode(error)}`;
      },
    },
    { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
  );
  if (syntax !== undefined) return { value: undefined, syntax, problems };
  try {
    return { value: JSON.parse(body), syntax: undefined, problems };
  } catch (error) {
    // The scanner and JSON.parse should agree; if not, JSON.parse has the last word.
    return { value: undefined, syntax: (error as Error).message, problems };
  }
}

/** `callers.svc.providers.0`, the same form as the schema's error paths; the root is "(root)". */
export function formatPath(path: JSONPath | (string | number | symbol)[]): string {
  return path.length === 0 ? "(root)" : path.map(String).join(".");
}
