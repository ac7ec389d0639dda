const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

export type IdPrefix =
  | "exp"
  | "run"
  | "ds"
  | "fb"
  | "req"
  | "key"
  | "swp"
  | "fx"
  | "cert"
  | "prj"
  | "fs"
  | "cur"
  | "dlq"
  | "pol"
  | "cyc"
  | "sub"
  | "dlv"
  | "evl"
  | "drf";

/**
 * Prefixed, time-sortable ids: `run_` + 10 chars of millisecond time + 16 random chars (base32).
 * Sorting ids sorts by creation time, which list cursors rely on.
 */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let rand = "";
  for (const b of bytes) rand += CROCKFORD[b % 32];
  return `${prefix}_${time}${rand}`;
}

export function hasPrefix(id: string, prefix: IdPrefix): boolean {
  return id.startsWith(`${prefix}_`);
}
