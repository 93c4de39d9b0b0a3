import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { DevTls } from "../tls.js";
import { sendJson, type SandboxHandler } from "./route.js";

export interface ServedHandlers {
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves sandbox handlers over HTTPS on loopback; the first handler that returns true wins. */
export async function serveHandlers(
  handlers: SandboxHandler[],
  options: {
    tls: DevTls;
    port?: number;
    host?: string;
    /** Ask clients for a certificate (mutual TLS) without requiring one: handlers decide. */
    requestClientCertificate?: boolean;
  },
): Promise<ServedHandlers> {
  const host = options.host ?? "127.0.0.1";
  const mtls = options.requestClientCertificate ? { requestCert: true, rejectUnauthorized: false } : {};
  const server = createServer({ cert: options.tls.cert, key: options.tls.key, ...mtls }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const url = new URL(req.url ?? "/", `https://${req.headers.host ?? host}`);
      try {
        for (const handler of handlers) {
          if (await handler(req, res, Buffer.concat(chunks), url)) return;
        }
        sendJson(res, 404, { error: "not_found" });
      } catch (error) {
        if (!res.headersSent) sendJson(res, 500, { error: "sandbox_error", message: (error as Error).message });
        else res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
