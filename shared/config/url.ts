import { z } from "zod";

/**
 * A URL string restricted to some protocols. One refinement that never throws: zod runs every
 * check even after `.url()` fails, and `new URL()` on garbage would turn a config error into a crash.
 */
export function urlWithProtocol(protocols: string[], message: string) {
  return z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, message);
}

export const HttpUrl = urlWithProtocol(["http:", "https:"], "must be an http(s) URL");
export const HttpsUrl = urlWithProtocol(["https:"], "must be an https URL");
