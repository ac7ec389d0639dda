import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  path: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

/**
 * A real loopback HTTP server standing in for a customer's webhook endpoint. Any path receives; each
 * path (a test's own "endpoint") answers `failures` times with `status` and then 204; status 0 never
 * answers, a 3xx redirects to `<path>/redirected`.
 * Control API under /__ctl/: POST script { path, failures, status }, GET requests?path=, POST reset.
 */
export class WebhookReceiver {
  private readonly received: ReceivedRequest[] = [];
  private readonly scripts = new Map<string, { failures: number; status: number }>();
  private constructor(private readonly server: Server) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  static async start(): Promise<WebhookReceiver> {
    let self: WebhookReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () =>
        self!.handle(req.method ?? "GET", req.url ?? "/", req.headers, Buffer.concat(chunks).toString("utf8"), res),
      );
    });
    self = new WebhookReceiver(server);
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    return self;
  }

  private handle(
    method: string,
    rawUrl: string,
    headers: NodeJS.Dict<string | string[]>,
    body: string,
    res: import("node:http").ServerResponse,
  ) {
    const url = new URL(rawUrl, "http://x");
    const reply = (status: number, json?: unknown) => {
      res.writeHead(status, json === undefined ? {} : { "content-type": "application/json" });
      res.end(json === undefined ? undefined : JSON.stringify(json));
    };
    if (url.pathname === "/__ctl/script" && method === "POST") {
      const s = JSON.parse(body) as { path: string; failures: number; status: number };
      this.scripts.set(s.path, { failures: s.failures, status: s.status });
      return reply(200, { ok: true });
    }
    if (url.pathname === "/__ctl/requests") {
      const path = url.searchParams.get("path");
      return reply(
        200,
        this.received.filter((r) => !path || r.path === path),
      );
    }
    const script = this.scripts.get(url.pathname);
    const status = script && script.failures > 0 ? script.status : 204;
    if (script && script.failures > 0) script.failures--;
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) flat[k] = Array.isArray(v) ? v.join(", ") : (v ?? "");
    this.received.push({ path: url.pathname, method, headers: flat, body, status });
    // 0: never answer (the sender's timeout must end the attempt); 3xx: a redirect to another path here.
    if (status === 0) return;
    if (status >= 300 && status < 400) {
      res.writeHead(status, { location: `${this.url}${url.pathname}/redirected` });
      res.end();
      return;
    }
    reply(status);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}
