/**
 * Where outgoing webhooks may go. In production a delivery never reaches loopback, private, link-local,
 * shared-address, multicast or reserved addresses, nor names that only resolve inside a network
 * (`localhost`, `*.local`, `*.internal`, …), and it must be https.
 *
 * The check is on the URL as written: IP literals in any form the URL parser accepts (decimal, hex,
 * octal and short IPv4 forms are normalised by WHATWG URL parsing, IPv4-mapped IPv6 is unwrapped) and
 * known local names. A public name whose DNS answer is a private address (DNS rebinding) cannot be
 * caught here, because a Worker cannot resolve names itself; on Cloudflare, `fetch` from a Worker does
 * not reach the account's private networks, which is the layer that stops that case. Redirects are not
 * followed (a 3xx counts as a failed attempt), so a public URL cannot bounce a delivery inward.
 */

const LOCAL_NAMES = [/^localhost$/, /\.localhost$/, /\.local$/, /\.internal$/, /\.lan$/, /\.home\.arpa$/, /^metadata$/];

function ipv4Blocked(a: number, b: number): boolean {
  return (
    a === 0 || // "this network"
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) || // IETF protocol assignments, documentation
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    (a === 198 && b === 51) ||
    (a === 203 && b === 0) ||
    a >= 224 // multicast, reserved, broadcast
  );
}

function parseIpv4(host: string): [number, number, number, number] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number) as [number, number, number, number];
  return parts.every((p) => p <= 255) ? parts : null;
}

/**
 * Expands an IPv6 literal (no brackets) to its 8 16-bit groups, or null. URL parsing has already
 * compressed it and rewritten any dotted IPv4 tail as hex groups.
 */
function parseIpv6(host: string): number[] | null {
  const halves = host.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s ? s.split(":").map((g) => Number.parseInt(g, 16)) : []);
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const out = [...head, ...new Array<number>(fill).fill(0), ...rest];
  return out.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? out : null;
}

function ipv6Blocked(g: number[]): boolean {
  const allZeroTo = (k: number) => g.slice(0, k).every((x) => x === 0);
  if (allZeroTo(7) && (g[7] === 0 || g[7] === 1)) return true; // :: and ::1
  if (allZeroTo(5) && g[5] === 0xffff) return ipv4Blocked(g[6]! >> 8, g[6]! & 0xff); // IPv4-mapped
  if (allZeroTo(6)) return ipv4Blocked(g[6]! >> 8, g[6]! & 0xff); // IPv4-compatible (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b) return ipv4Blocked(g[6]! >> 8, g[6]! & 0xff); // NAT64
  const first = g[0]!;
  return (
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xffc0) === 0xfec0 || // site-local (deprecated)
    (first & 0xff00) === 0xff00 || // multicast
    (first === 0x2001 && g[1] === 0x0db8) // documentation
  );
}

/**
 * Why a URL may not receive webhooks, or null when it may. `allowPrivate` (local development and tests
 * only) admits http and loopback/private addresses; credentials in the URL are refused either way.
 */
export function webhookUrlProblem(raw: string, allowPrivate: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not a valid absolute URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "only http(s) URLs can receive webhooks";
  if (url.username || url.password) return "credentials in the URL are not accepted";
  if (allowPrivate) return null;
  if (url.protocol !== "https:") return "webhook URLs must use https";
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (host.startsWith("[")) {
    const g = parseIpv6(host.slice(1, -1));
    if (!g || ipv6Blocked(g)) return `${host} is a loopback, private or reserved address`;
    return null;
  }
  const v4 = parseIpv4(host);
  if (v4) return ipv4Blocked(v4[0], v4[1]) ? `${host} is a loopback, private or reserved address` : null;
  if (!host.includes(".") || LOCAL_NAMES.some((re) => re.test(host))) return `${host} is a local host name`;
  return null;
}

export const allowPrivateWebhooks = (env: { ASSAY_ALLOW_PRIVATE_WEBHOOKS?: string }) =>
  env.ASSAY_ALLOW_PRIVATE_WEBHOOKS === "1" || env.ASSAY_ALLOW_PRIVATE_WEBHOOKS === "true";
