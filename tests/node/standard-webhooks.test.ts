import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { newWebhookSecret, signStandardWebhook, verifyStandardWebhook } from "../../functions/lib/standard-webhooks";

const enc = new TextEncoder();

function rng(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe("the Standard Webhooks signer and verifier agree with the official library", () => {
  it("on 200 random messages: the same signatures, verified, and refused once any byte changes", async () => {
    const rnd = rng(11);
    const mismatches: string[] = [];
    for (let i = 0; i < 200; i++) {
      const secret = newWebhookSecret();
      const id = `msg_${Math.floor(rnd() * 1e12).toString(36)}`;
      const ts = 1_700_000_000 + Math.floor(rnd() * 1e8);
      const body = JSON.stringify({
        n: i,
        text: Array.from({ length: Math.floor(rnd() * 200) }, () =>
          String.fromCharCode(32 + Math.floor(rnd() * 0x2fff)),
        ).join(""),
      });
      const theirs = new Webhook(secret).sign(id, new Date(ts * 1000), body);
      const ours = await signStandardWebhook(secret, id, ts, body);
      if (theirs !== ours) mismatches.push(`${i}: ${theirs} != ${ours}`);
      const headers = new Headers({ "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": theirs });
      const ok = await verifyStandardWebhook({ secrets: [secret], headers, body: enc.encode(body), now: ts * 1000 });
      if (!ok.ok) mismatches.push(`${i}: refused its own signature: ${ok.reason}`);
      const bytes = enc.encode(body);
      bytes[Math.floor(rnd() * bytes.length)]! ^= 1;
      const bad = await verifyStandardWebhook({ secrets: [secret], headers, body: bytes, now: ts * 1000 });
      if (bad.ok) mismatches.push(`${i}: accepted a changed body`);
    }
    expect(mismatches).toEqual([]);
  });

  it("tries every secret of a rotation and says which one verified", async () => {
    const [a, b] = [newWebhookSecret(), newWebhookSecret()];
    const sig = await signStandardWebhook(b, "m", 1000, "{}");
    const headers = new Headers({ "webhook-id": "m", "webhook-timestamp": "1000", "webhook-signature": sig });
    expect(await verifyStandardWebhook({ secrets: [a, b], headers, body: enc.encode("{}"), now: 1_000_000 })).toEqual({
      ok: true,
      id: "m",
      timestamp: 1000,
      secretIndex: 1,
    });
    expect(await verifyStandardWebhook({ secrets: [a], headers, body: enc.encode("{}"), now: 1_000_000 })).toEqual({
      ok: false,
      reason: "no signature matches this source's secret",
    });
  });
});
