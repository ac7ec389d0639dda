/**
 * Rule-based PII redaction, applied to feedback before anything is stored. Pure functions (no I/O), so
 * the same code runs in workerd and in Node, where tests/node/pii.test.ts measures it on a labelled set.
 *
 * Detectors run in a fixed order and each claims the characters it matched, so a later, looser detector
 * never re-reads part of an earlier match (a JWT is not also an email, a card is not also a phone).
 * Numbers are only redacted when they check out: cards by Luhn and issuer prefix, IBANs by mod-97 and
 * their country's length. Every quantifier is bounded, so a hostile 1 MiB string costs linear time.
 *
 * @example
 * redactText("mail bob@example.com or call +44 20 7946 0958")
 * // { text: "mail <EMAIL> or call <PHONE>", counts: { email: 1, phone: 1 } }
 */

export type PiiKind = "secret" | "email" | "iban" | "card" | "ip" | "phone";

export const PII_TOKENS: Record<PiiKind, string> = {
  secret: "<SECRET>",
  email: "<EMAIL>",
  iban: "<IBAN>",
  card: "<CARD>",
  ip: "<IP>",
  phone: "<PHONE>",
};

export interface PiiMatch {
  kind: PiiKind;
  start: number;
  end: number;
  text: string;
}

export type PiiCounts = Partial<Record<PiiKind, number>>;

interface Detector {
  kind: PiiKind;
  re: RegExp;
  /** Which capture group is the sensitive part (0 = the whole match). */
  group?: number;
  /** Extra check on the matched text (and where it stands); a false keeps the text as it is. */
  valid?: (text: string, src: string, start: number) => boolean;
  /**
   * When the whole match fails `valid`, try it shorter, cut at each separator from the right: a greedy
   * match may have swallowed a trailing group ("4111 1111 1111 1111 12/26", "… 0958 2024").
   */
  shrink?: boolean;
  /** The detector runs only on strings that contain one of these characters. */
  needs?: RegExp;
}

// ---------- validators ----------

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** Issuer prefixes and lengths of the card networks in use; a Luhn-valid number outside them is not a card. */
function cardIssuer(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  const p6 = Number(d.slice(0, 6));
  if (d[0] === "4") return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // American Express
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925)) return n >= 16 && n <= 19; // Discover
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
  if (p2 === 36 || p2 === 38 || p2 === 39 || (p3 >= 300 && p3 <= 305)) return n >= 14 && n <= 19; // Diners
  if (p2 === 62) return n >= 16 && n <= 19; // UnionPay
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 12 && n <= 19; // Maestro
  return false;
}

export function cardValid(text: string): boolean {
  const sep = text.match(/[ -]/g);
  // Mixed separators ("4111 1111-1111 1111") are a list of numbers, not one card.
  if (sep && new Set(sep).size > 1) return false;
  const d = text.replace(/[ -]/g, "");
  return d.length >= 12 && d.length <= 19 && cardIssuer(d) && luhnValid(d);
}

/** IBAN lengths by country (ISO 13616 registry). */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21,
  CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18,
  FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24,
  ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29,
  PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23,
  ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
}; // biome-ignore format: a table

export function ibanValid(text: string): boolean {
  const s = text.replace(/ /g, "").toUpperCase();
  if (IBAN_LENGTHS[s.slice(0, 2)] !== s.length) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const c = ch.charCodeAt(0);
    const v = c >= 65 && c <= 90 ? c - 55 : c - 48;
    if (v < 0 || v > 35) return false;
    rem = v > 9 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

export function ipv6Valid(text: string): boolean {
  let s = text;
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  let groups = 8;
  const lastColon = s.lastIndexOf(":");
  const tail = s.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!IPV4_EXACT.test(tail)) return false;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return false;
  const parts = (h: string) => (h === "" ? [] : h.split(":"));
  const head = parts(halves[0]!);
  const rest = halves.length === 2 ? parts(halves[1]!) : [];
  const all = [...head, ...rest];
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  if (halves.length === 2) {
    if (all.length > groups - 1) return false;
    // "::" alone or with one short group is too often not an address in prose (C++ scopes, Ruby constants).
    return all.length >= 1 && (all.length >= 2 || /[0-9]/.test(all[0]!));
  }
  groups = all.length;
  return groups === 8;
}

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
const IPV4_EXACT = new RegExp(`^${IPV4}$`);

/** Digits in a phone candidate, E.164 allows at most 15. */
function digitCount(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

function phoneValid(min: number, max: number) {
  return (text: string) => {
    const n = digitCount(text);
    if (n < min || n > max) return false;
    // A run of one repeated digit (0000 000 000) is a placeholder, not a number.
    return !/^\+?(\d)(?:[\s().-]*\1)+$/.test(text);
  };
}

// ---------- detectors, in priority order ----------

// Boundaries: a token must not continue a longer word or number on either side.
const B = "(?<![\\w+/-])";
const E = "(?![\\w+/=-])";

const DETECTORS: Detector[] = [
  // --- secrets ---
  {
    kind: "secret",
    re: /-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[\s\S]{1,10000}?-----END [A-Z ]{0,40}PRIVATE KEY-----/g,
  },
  // JWT: base64url JSON header and payload (both start with `{"`, so "eyJ"), then a signature.
  { kind: "secret", re: /(?<![\w-])eyJ[\w-]{8,8000}\.eyJ[\w-]{8,8000}\.[\w-]{0,8000}/g },
  // AWS access key ids.
  {
    kind: "secret",
    re: /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  },
  // API keys by their vendors' prefixes (OpenAI/Anthropic sk-, Stripe, GitHub, Slack, GitLab, Google,
  // Hugging Face, npm, Standard Webhooks secrets).
  {
    kind: "secret",
    re: new RegExp(
      `${B}(?:sk-(?:proj-|ant-(?:api\\d\\d-)?|svcacct-)?[A-Za-z0-9_-]{20,300}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,200}|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}|xox[abposr]-[A-Za-z0-9-]{10,250}|xapp-[A-Za-z0-9-]{10,250}|glpat-[A-Za-z0-9_-]{20,100}|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,100}|npm_[A-Za-z0-9]{36}|whsec_[A-Za-z0-9+/]{20,200}={0,2})${E}`,
      "g",
    ),
    // A vendor key is random: it has a digit or mixed case somewhere. "sk-learn-and-sklearn-examples" has neither.
    valid: (t) => /\d/.test(t) || (/[a-z]/.test(t.slice(3)) && /[A-Z]/.test(t.slice(3))),
  },
  // Bearer tokens: the token after the scheme, the scheme itself stays.
  { kind: "secret", re: /\bBearer\s{1,5}([A-Za-z0-9\-._~+/]{8,4000}=*)/gi, group: 1, valid: (t) => /\d/.test(t) },
  // Credentials in key = value form.
  {
    kind: "secret",
    re: /\b(?:api[_-]?key|apikey|secret[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|aws_secret_access_key|password|passwd|pwd)["']?\s{0,3}[:=]\s{0,3}["']?([^\s"'<>,;]{8,512})/gi,
    group: 1,
  },
  // --- emails ---
  {
    kind: "email",
    needs: /@/,
    re: /(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-])/g,
  },
  // --- IBANs (before cards and phones: an IBAN holds long digit runs) ---
  {
    kind: "iban",
    re: /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])/g,
    valid: ibanValid,
    shrink: true,
    needs: /\d/,
  },
  // --- payment cards: 12-19 digits, optionally in groups ---
  { kind: "card", re: /(?<![\d.,-])\d(?:[ -]?\d){11,18}(?![\d.,]?\d)/g, valid: cardValid, shrink: true, needs: /\d/ },
  // --- IP addresses ---
  {
    kind: "ip",
    re: /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})?(?:%[\w.]{1,20})?(?![\w:]|\.\d)/g,
    valid: ipv6Valid,
    needs: /:/,
  },
  // IPv4, not inside a longer dotted number (versions such as 1.2.3.4.5, OIDs) nor after a "v".
  {
    kind: "ip",
    re: new RegExp(`(?<![\\w.])${IPV4}(?![\\w]|\\.\\d)`, "g"),
    valid: (_t, src, start) =>
      !/(?:version|release|build|ver\.?|v)\s*$/i.test(src.slice(Math.max(0, start - 12), start)),
    needs: /\d/,
  },
  // --- phone numbers ---
  // International: +CC or 00CC, then groups.
  {
    kind: "phone",
    re: /(?<![\w+])(?<!\d{3,4} )(?:\+[1-9]\d{0,2}|00[1-9]\d{0,2}(?=[ \u00a0.-]))(?:[ \u00a0.-]?\(\d{1,4}\))?(?:[ \u00a0.-]?\d{1,5}){1,6}(?![\w]|[.-]\d)/g,
    valid: phoneValid(8, 15),
    shrink: true,
  },
  // North American: (212) 555-0199, 212-555-0199, 212.555.0199, 212 555 0199.
  {
    kind: "phone",
    re: /(?<![\w(.-])(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w]|[.-]\d)/g,
    valid: (t) => phoneValid(10, 10)(t) && /[2-9]/.test(t.replace(/\D/g, "")[0]!),
  },
  // National with a trunk 0: 020 7946 0958, 07700 900123, 01 23 45 67 89, 030 12345678, 06-12345678.
  {
    kind: "phone",
    // Not after another digit group: "… 3704 0044 0532" is the middle of an account number.
    re: /(?<![\w./-])(?<!\d{3,4} )\(?0\d{1,4}\)?(?:[ \u00a0./-]\d{2,8}){1,4}(?![\w]|[./-]\d)/g,
    valid: phoneValid(10, 12),
    shrink: true,
  },
  // Bare digits only next to a word that says they are a phone number.
  {
    kind: "phone",
    re: /\b(?:phone|tel|telephone|mobile|cell|call(?: me)?(?: at| on)?|whatsapp|sms|text me(?: at| on)?|fax)\b[\s:.#]{0,4}(\+?\d{7,15})(?!\w)/gi,
    group: 1,
    valid: phoneValid(7, 15),
  },
];

/** Shorter candidates of a failed match, cut before each separator, longest first. */
function* shorter(text: string): Generator<string> {
  for (let k = text.length - 1; k > 0; k--) {
    if (/[ \u00a0.\-/]/.test(text[k]!) && /[\dA-Za-z)]/.test(text[k - 1]!)) yield text.slice(0, k);
  }
}

/** Finds PII in a string: non-overlapping matches, in order of position. */
export function findPii(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  for (const d of DETECTORS) {
    if (d.needs && !d.needs.test(text)) continue;
    if (d.kind === "phone" && !/\d/.test(text)) continue;
    d.re.lastIndex = 0;
    for (const m of text.matchAll(d.re)) {
      const whole = m[0];
      let part = d.group ? m[d.group] : whole;
      if (part === undefined || part === "") continue;
      const start = (m.index ?? 0) + (d.group ? whole.lastIndexOf(part) : 0);
      if (d.valid && !d.valid(part, text, start)) {
        let cut: string | undefined;
        if (d.shrink) {
          for (const s of shorter(part)) {
            if (d.valid(s, text, start)) {
              cut = s;
              break;
            }
          }
        }
        if (cut === undefined) continue;
        part = cut;
      }
      const end = start + part.length;
      if (found.some((f) => start < f.end && end > f.start)) continue;
      found.push({ kind: d.kind, start, end, text: part });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}
/** Replaces PII in a string by its token, adding what it replaced to `counts`. */
export function redactText(text: string, counts: PiiCounts = {}): { text: string; counts: PiiCounts } {
  const matches = findPii(text);
  if (matches.length === 0) return { text, counts };
  let out = "";
  let at = 0;
  for (const m of matches) {
    out += text.slice(at, m.start) + PII_TOKENS[m.kind];
    at = m.end;
    counts[m.kind] = (counts[m.kind] ?? 0) + 1;
  }
  return { text: out + text.slice(at), counts };
}

/** Redacts every string inside a JSON value (object keys are kept as they are). */
export function redactJson<T>(value: T, counts: PiiCounts): T {
  if (typeof value === "string") return redactText(value, counts).text as T;
  if (Array.isArray(value)) return value.map((v) => redactJson(v, counts)) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactJson(v, counts);
    return out as T;
  }
  return value;
}
