import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The default script, for callers that cannot reach the fake's object (tests inside workerd): the prompt
 * says what to answer. `JUDGE:SCORE=0.7`, `JUDGE:LABEL=positive`, `JUDGE:STATUS=503`, `JUDGE:COIN` (a
 * random 0 or 1: a judge that disagrees with itself); anything else answers `{"result": 1}`.
 */
export function directiveReply(req: RecordedRequest): JudgeReply {
  const prompt = JSON.stringify(req.body?.messages ?? []);
  const m = /JUDGE:(SCORE|LABEL|STATUS|COIN)(?:=([\w.-]+))?/.exec(prompt);
  if (!m) return { content: '{"result": 1}' };
  if (m[1] === "SCORE") return { content: JSON.stringify({ result: Number(m[2]) }) };
  if (m[1] === "LABEL") return { content: JSON.stringify({ label: m[2] }) };
  if (m[1] === "STATUS") return { status: Number(m[2]) };
  return { content: JSON.stringify({ result: Math.random() < 0.5 ? 0 : 1 }) };
}

/** What the fake answers to one chat-completions request. */
export type JudgeReply =
  | { content: string }
  | { status: number; body?: string; retryAfter?: string }
  | { hang: true }
  | { raw: string };

export interface RecordedRequest {
  path: string;
  headers: IncomingMessage["headers"];
  body: any;
}

/**
 * An OpenAI-compatible chat-completions server on loopback for the judge tests: it answers from a script
 * (a function of the request, so concurrent calls get their own answer) and records every request.
 */
export class FakeJudge {
  readonly requests: RecordedRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  reply: (req: RecordedRequest, n: number) => JudgeReply = directiveReply;
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeJudge> {
    let judge: FakeJudge | undefined;
    const server = createServer((req, res) => judge!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    judge = new FakeJudge(server, `http://127.0.0.1:${port}/v1`);
    return judge;
  }

  reset() {
    this.requests.length = 0;
    this.maxInFlight = 0;
    this.reply = directiveReply;
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      body = null;
    }
    const recorded = { path: req.url ?? "", headers: req.headers, body };
    this.requests.push(recorded);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const reply = this.reply(recorded, this.requests.length);
    // Hold each answer briefly, so that concurrent calls overlap and the in-flight count means something.
    await new Promise((r) => setTimeout(r, 20));
    if ("hang" in reply) {
      this.hanging.add(res);
      res.on("close", () => {
        this.hanging.delete(res);
        this.inFlight--;
      });
      return;
    }
    this.inFlight--;
    if ("raw" in reply) {
      res.writeHead(200, { "content-type": "application/json" }).end(reply.raw);
    } else if ("status" in reply) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (reply.retryAfter !== undefined) headers["retry-after"] = reply.retryAfter;
      res.writeHead(reply.status, headers).end(reply.body ?? '{"error": {"message": "scripted failure"}}');
    } else {
      const completion = {
        id: `chatcmpl-${this.requests.length}`,
        object: "chat.completion",
        model: body?.model,
        choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: reply.content } }],
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(completion));
    }
  }

  async close() {
    for (const res of this.hanging) res.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
