/**
 * `format` checks, used when the grader asserts formats (the default). Written from the RFCs the drafts
 * name: RFC 3339 (date-time, date, time, duration), RFC 5321/5322 and 6531 (email, idn-email), RFC 1123
 * and 5890-5893 (hostname, idn-hostname), RFC 2673/4291 (ipv4, ipv6), RFC 3986/3987 (uri, iri and their
 * references), RFC 6570 (uri-template), RFC 4122 (uuid), RFC 6901 and the relative JSON pointer draft,
 * and ECMA-262 (regex). Unknown formats pass, as the drafts require.
 */

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const leap = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
function date(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= (mo === 2 && leap(y) ? 29 : DAYS[mo - 1]!);
}

const TIME_RE = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
function time(s: string): boolean {
  const m = TIME_RE.exec(s);
  if (!m) return false;
  const h = Number(m[1]);
  const min = Number(m[2]);
  const sec = Number(m[3]);
  const oh = m[4] ? 0 : Number(m[6]);
  const om = m[4] ? 0 : Number(m[7]);
  if (h > 23 || min > 59 || sec > 60 || oh > 23 || om > 59) return false;
  if (sec < 60) return true;
  // A leap second is 23:59:60 UTC, wherever the offset puts it locally.
  const sign = m[5] === "-" ? -1 : 1;
  const utc = (((h * 60 + min - sign * (oh * 60 + om)) % 1440) + 1440) % 1440;
  return utc === 23 * 60 + 59;
}

function dateTime(s: string): boolean {
  const i = s.search(/[Tt]/);
  return i === 10 && date(s.slice(0, i)) && time(s.slice(i + 1));
}

// RFC 3339 appendix A, exactly: a unit may only be followed by the next smaller one (no P1Y2D, no PT1H2S).
const DUR_TIME = "T(?:\\d+H(?:\\d+M(?:\\d+S)?)?|\\d+M(?:\\d+S)?|\\d+S)";
const DUR_DATE = `(?:\\d+Y(?:\\d+M(?:\\d+D)?)?|\\d+M(?:\\d+D)?|\\d+D)(?:${DUR_TIME})?`;
const DURATION_RE = new RegExp(`^P(?:${DUR_DATE}|${DUR_TIME}|\\d+W)$`);

// --- hostnames -----------------------------------------------------------------------------------------

const LDH_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 3492 Punycode decoding; null when the input is not valid Punycode. */
function punycodeDecode(input: string): string | null {
  const base = 36;
  const tMin = 1;
  const tMax = 26;
  let n = 128;
  let bias = 72;
  let i = 0;
  const out: number[] = [];
  const d = input.lastIndexOf("-");
  if (d > 0) {
    for (let j = 0; j < d; j++) {
      const c = input.charCodeAt(j);
      if (c >= 0x80) return null;
      out.push(c);
    }
  }
  const digit = (c: number) =>
    c >= 48 && c <= 57 ? c - 22 : c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 97 : base;
  for (let k = d > 0 ? d + 1 : 0; k < input.length; ) {
    const old = i;
    let w = 1;
    for (let b = base; ; b += base) {
      if (k >= input.length) return null;
      const dg = digit(input.charCodeAt(k++));
      if (dg >= base) return null;
      i += dg * w;
      const t = b <= bias ? tMin : b >= bias + tMax ? tMax : b - bias;
      if (dg < t) break;
      w *= base - t;
      if (i > 0x10ffff * 4) return null;
    }
    const len = out.length + 1;
    let delta = old === 0 ? Math.floor((i - old) / 700) : (i - old) >> 1;
    delta += Math.floor(delta / len);
    let kk = 0;
    while (delta > ((base - tMin) * tMax) >> 1) {
      delta = Math.floor(delta / (base - tMin));
      kk += base;
    }
    bias = kk + Math.floor(((base - tMin + 1) * delta) / (delta + 38));
    n += Math.floor(i / len);
    i %= len;
    if (n > 0x10ffff) return null;
    out.splice(i++, 0, n);
  }
  return String.fromCodePoint(...out);
}

// RFC 5892 section 2.6 exceptions that are DISALLOWED, and code points IDNA2008 never allows in a label.
// RFC 5892 section 2.6 exceptions that are PVALID although their category would not be.
const PVALID = new Set([0x00df, 0x03c2, 0x06fd, 0x06fe, 0x0f0b, 0x3007]);
const DISALLOWED = new Set([0x0640, 0x07fa, 0x302e, 0x302f, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303b]);
const LETTER_LIKE = /^[\p{L}\p{M}\p{Nd}-]$/u;
// Code points with Canonical_Combining_Class=Virama (JavaScript regexes have no property for it).
const VIRAMA = new Set([
  0x094d, 0x09cd, 0x0a4d, 0x0acd, 0x0b4d, 0x0bcd, 0x0c4d, 0x0ccd, 0x0d3b, 0x0d3c, 0x0d4d, 0x0dca, 0x0e3a, 0x0eba,
  0x0f84, 0x1039, 0x103a, 0x1714, 0x1734, 0x17d2, 0x1a60, 0x1b44, 0x1baa, 0x1bab, 0x1bf2, 0x1bf3, 0x2d7f, 0xa806,
  0xa8c4, 0xa953, 0xa9c0, 0xaaf6, 0xabed, 0x10a3f, 0x11046, 0x1107f, 0x110b9, 0x11133, 0x11134, 0x111c0, 0x11235,
  0x112ea, 0x1134d, 0x11442, 0x114c2, 0x115bf, 0x1163f, 0x116b6, 0x1172b, 0x11839, 0x119e0, 0x11a34, 0x11a47, 0x11a99,
  0x11c3f, 0x11d44, 0x11d45, 0x11d97,
]);
const GREEK = /\p{Script=Greek}/u;
const HEBREW = /\p{Script=Hebrew}/u;
const JAPANESE = /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u;
// Joining_Type is not a regex property either: letters of the joining scripts stand in for D/L/R joiners.
const JOINING =
  /^[\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Manichaean}\p{Script=Psalter_Pahlavi}]$/u;
const joins = (ch: string | undefined) => ch !== undefined && JOINING.test(ch) && /\p{L}/u.test(ch);

/** RFC 5891/5892 checks of one Unicode label (a U-label or a decoded A-label). */
function uLabelOk(label: string): boolean {
  if (label.length === 0) return false;
  if (label.normalize("NFC") !== label) return false;
  if (label.startsWith("-") || label.endsWith("-")) return false;
  if (label.slice(2, 4) === "--") return false;
  const cps = [...label];
  if (/^\p{M}/u.test(label)) return false;
  let arabicIndic = false;
  let extArabicIndic = false;
  for (let i = 0; i < cps.length; i++) {
    const ch = cps[i]!;
    const cp = ch.codePointAt(0)!;
    if (DISALLOWED.has(cp)) return false;
    if (cp === 0x200c || cp === 0x200d) {
      // CONTEXTJ: ZERO WIDTH (NON-)JOINER after a virama (for ZWNJ also between joining letters).
      const before = cps[i - 1];
      if (before && VIRAMA.has(before.codePointAt(0)!)) continue;
      if (cp === 0x200c && joins(before) && joins(cps[i + 1])) continue;
      return false;
    }
    if (cp === 0x00b7) {
      // MIDDLE DOT only between two "l" (Catalan l·l).
      if (cps[i - 1] !== "l" || cps[i + 1] !== "l") return false;
      continue;
    }
    if (cp === 0x0375) {
      if (!cps[i + 1] || !GREEK.test(cps[i + 1]!)) return false;
      continue;
    }
    if (cp === 0x05f3 || cp === 0x05f4) {
      if (!cps[i - 1] || !HEBREW.test(cps[i - 1]!)) return false;
      continue;
    }
    if (cp === 0x30fb) {
      if (!cps.some((x) => x !== "\u30fb" && JAPANESE.test(x))) return false;
      continue;
    }
    if (cp >= 0x0660 && cp <= 0x0669) arabicIndic = true;
    if (cp >= 0x06f0 && cp <= 0x06f9) extArabicIndic = true;
    if (PVALID.has(cp)) continue;
    if (cp < 0x80) {
      if (!/[A-Za-z0-9-]/.test(ch)) return false;
      continue;
    }
    if (!LETTER_LIKE.test(ch)) return false;
  }
  return !(arabicIndic && extArabicIndic);
}

// RFC 5893 (Bidi): bidirectional classes, approximated by script and category (no Bidi_Class in regexes).
const RTL =
  /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}]/u;
type Bidi = "L" | "R" | "EN" | "AN" | "NSM" | "ES" | "ON";
function bidiClass(ch: string): Bidi {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x06f0 && cp <= 0x06f9)) return "EN";
  if ((cp >= 0x0660 && cp <= 0x0669) || cp === 0x066b || cp === 0x066c) return "AN";
  if (/\p{Mn}/u.test(ch)) return "NSM";
  if (ch === "-") return "ES";
  if (RTL.test(ch) && /[\p{L}\p{So}\p{Lm}]/u.test(ch)) return "R";
  if (/[\p{L}\p{Mc}\p{Nl}]/u.test(ch) || cp === 0x0f0b) return "L";
  return "ON";
}

function bidiOk(labels: string[]): boolean {
  const classes = labels.map((l) => [...l].map(bidiClass));
  if (!classes.some((cs) => cs.some((c) => c === "R" || c === "AN"))) return true;
  for (const cs of classes) {
    const first = cs[0];
    let last = cs.length - 1;
    while (last > 0 && cs[last] === "NSM") last--;
    if (first === "R") {
      if (cs.includes("L")) return false;
      if (!["R", "EN", "AN"].includes(cs[last]!)) return false;
      if (cs.includes("EN") && cs.includes("AN")) return false;
    } else if (first === "L") {
      if (cs.some((c) => c === "R" || c === "AN")) return false;
      if (!["L", "EN"].includes(cs[last]!)) return false;
    } else return false;
  }
  return true;
}

/** RFC 3492 Punycode encoding of a label (for the 63-octet limit, which is on the A-label). */
function punycodeEncode(input: string): string {
  const cps = [...input].map((c) => c.codePointAt(0)!);
  const out: string[] = cps.filter((c) => c < 0x80).map((c) => String.fromCharCode(c));
  const b = out.length;
  let h = b;
  if (b > 0) out.push("-");
  let n = 128;
  let delta = 0;
  let bias = 72;
  const digit = (d: number) => String.fromCharCode(d < 26 ? d + 97 : d + 22);
  while (h < cps.length) {
    const m = Math.min(...cps.filter((c) => c >= n));
    delta += (m - n) * (h + 1);
    n = m;
    for (const c of cps) {
      if (c < n) delta++;
      if (c !== n) continue;
      let q = delta;
      for (let k = 36; ; k += 36) {
        const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
        if (q < t) break;
        out.push(digit(t + ((q - t) % (36 - t))));
        q = Math.floor((q - t) / (36 - t));
      }
      out.push(digit(q));
      let d = h === b ? Math.floor(delta / 700) : delta >> 1;
      d += Math.floor(d / (h + 1));
      let k = 0;
      while (d > 455) {
        d = Math.floor(d / 35);
        k += 36;
      }
      bias = k + Math.floor((36 * d) / (d + 38));
      delta = 0;
      h++;
    }
    delta++;
    n++;
  }
  return out.join("");
}

const NON_ASCII = /\P{ASCII}/u;

function hostnameWith(s: string, idn: boolean): boolean {
  if (idn) s = s.replace(/[\u3002\uff0e\uff61]/g, ".");
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.split(".");
  const unicode: string[] = [];
  for (const label of labels) {
    if (label.length === 0 || label.length > 63) return false;
    if (/^xn--/i.test(label)) {
      const u = punycodeDecode(label.slice(4));
      // A U-label holds at least one non-ASCII character.
      if (u === null || !NON_ASCII.test(u) || !uLabelOk(u)) return false;
      unicode.push(u);
      continue;
    }
    if (!NON_ASCII.test(label)) {
      if (!LDH_LABEL.test(label) || label.slice(2, 4) === "--") return false;
      unicode.push(label);
      continue;
    }
    if (!idn || !uLabelOk(label) || punycodeEncode(label).length + 4 > 63) return false;
    unicode.push(label);
  }
  return bidiOk(unicode);
}

// --- IP addresses ----------------------------------------------------------------------------------------

const IPV4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const ipv4 = (s: string) => IPV4_RE.test(s);

function ipv6(s: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return false;
  const halves = s.split("::");
  if (halves.length > 2) return false;
  const groups = (part: string): string[] | null => (part === "" ? [] : part.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return false;
  const all = [...head, ...tail];
  let count = all.length;
  for (let i = 0; i < all.length; i++) {
    const g = all[i]!;
    if (i === all.length - 1 && g.includes(".")) {
      // An embedded IPv4 address ends the address and counts as two groups.
      if (halves.length === 2 && tail.length === 0) return false;
      if (!ipv4(g)) return false;
      count++;
      continue;
    }
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return false;
  }
  return halves.length === 2 ? count < 8 : count === 8;
}

// --- email -----------------------------------------------------------------------------------------------

const ATEXT = "\\-A-Za-z0-9!#$%&'*+/=?^_`{|}~";
const DOT_ATOM = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*$`);
const DOT_ATOM_IDN = new RegExp(`^[${ATEXT}\\u0080-\\u{10ffff}]+(?:\\.[${ATEXT}\\u0080-\\u{10ffff}]+)*$`, "u");
const QUOTED = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
const QUOTED_IDN = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10ffff}]|\\[\x20-\x7e])*"$/u;

function emailWith(s: string, idn: boolean): boolean {
  const at = s.lastIndexOf("@");
  if (at <= 0) return false;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  const localOk = idn ? DOT_ATOM_IDN.test(local) || QUOTED_IDN.test(local) : DOT_ATOM.test(local) || QUOTED.test(local);
  if (!localOk) return false;
  if (domain.startsWith("[") && domain.endsWith("]")) {
    const lit = domain.slice(1, -1);
    return /^IPv6:/i.test(lit) ? ipv6(lit.slice(5)) : ipv4(lit);
  }
  // RFC 6531 domains are compared in NFC: a decomposed one is the same name.
  return hostnameWith(idn ? domain.normalize("NFC") : domain, idn);
}

// --- URIs and IRIs (RFC 3986 / 3987), as regular expressions built from the ABNF ----------------------

function uriRegexes(iri: boolean) {
  const ucschar = iri
    ? "\\u{A0}-\\u{D7FF}\\u{F900}-\\u{FDCF}\\u{FDF0}-\\u{FFEF}\\u{10000}-\\u{1FFFD}\\u{20000}-\\u{2FFFD}\\u{30000}-\\u{3FFFD}\\u{40000}-\\u{4FFFD}\\u{50000}-\\u{5FFFD}\\u{60000}-\\u{6FFFD}\\u{70000}-\\u{7FFFD}\\u{80000}-\\u{8FFFD}\\u{90000}-\\u{9FFFD}\\u{A0000}-\\u{AFFFD}\\u{B0000}-\\u{BFFFD}\\u{C0000}-\\u{CFFFD}\\u{D0000}-\\u{DFFFD}\\u{E1000}-\\u{EFFFD}"
    : "";
  const iprivate = iri ? "\\u{E000}-\\u{F8FF}\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}" : "";
  const unreserved = `A-Za-z0-9\\-._~${ucschar}`;
  const subDelims = "!$&'()*+,;=";
  const pct = "%[0-9A-Fa-f]{2}";
  const pchar = `(?:[${unreserved}${subDelims}:@]|${pct})`;
  const segment = `${pchar}*`;
  const segmentNz = `${pchar}+`;
  const segmentNzNc = `(?:[${unreserved}${subDelims}@]|${pct})+`;
  const dec = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
  const ipv4a = `${dec}\\.${dec}\\.${dec}\\.${dec}`;
  const h16 = "[0-9A-Fa-f]{1,4}";
  const ls32 = `(?:${h16}:${h16}|${ipv4a})`;
  const ipv6a = [
    `(?:${h16}:){6}${ls32}`,
    `::(?:${h16}:){5}${ls32}`,
    `(?:${h16})?::(?:${h16}:){4}${ls32}`,
    `(?:(?:${h16}:){0,1}${h16})?::(?:${h16}:){3}${ls32}`,
    `(?:(?:${h16}:){0,2}${h16})?::(?:${h16}:){2}${ls32}`,
    `(?:(?:${h16}:){0,3}${h16})?::${h16}:${ls32}`,
    `(?:(?:${h16}:){0,4}${h16})?::${ls32}`,
    `(?:(?:${h16}:){0,5}${h16})?::${h16}`,
    `(?:(?:${h16}:){0,6}${h16})?::`,
  ].join("|");
  const ipFuture = `[vV][0-9A-Fa-f]+\\.[${unreserved.replace(ucschar, "")}${subDelims}:]+`;
  const ipLiteral = `\\[(?:${ipv6a}|${ipFuture})\\]`;
  const regName = `(?:[${unreserved}${subDelims}]|${pct})*`;
  const host = `(?:${ipLiteral}|${ipv4a}|${regName})`;
  const userinfo = `(?:[${unreserved}${subDelims}:]|${pct})*`;
  const authority = `(?:${userinfo}@)?${host}(?::\\d*)?`;
  const pathAbempty = `(?:/${segment})*`;
  const pathAbsolute = `/(?:${segmentNz}(?:/${segment})*)?`;
  const pathRootless = `${segmentNz}(?:/${segment})*`;
  const pathNoscheme = `${segmentNzNc}(?:/${segment})*`;
  const query = `(?:${pchar}|[/?${iprivate}])*`;
  const fragment = `(?:${pchar}|[/?])*`;
  const scheme = "[A-Za-z][A-Za-z0-9+\\-.]*";
  const hier = `(?://${authority}${pathAbempty}|${pathAbsolute}|${pathRootless}|)`;
  const relPart = `(?://${authority}${pathAbempty}|${pathAbsolute}|${pathNoscheme}|)`;
  const tail = `(?:\\?${query})?(?:#${fragment})?`;
  const flags = iri ? "u" : "";
  return {
    absolute: new RegExp(`^${scheme}:${hier}${tail}$`, flags),
    reference: new RegExp(`^(?:${scheme}:${hier}|${relPart})${tail}$`, flags),
  };
}

const URI = uriRegexes(false);
const IRI = uriRegexes(true);

const URI_TEMPLATE_RE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 6570 literals exclude the control characters.
  /^(?:[^\x00-\x20\x7f"<>%\\^`{|}]|%[0-9A-Fa-f]{2}|\{[+#./;?&=,!@|]?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})+(?:\.(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})+)*(?::[1-9][0-9]{0,3}|\*)?(?:,(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})+(?:\.(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})+)*(?::[1-9][0-9]{0,3}|\*)?)*\})*$/u;

const UUID_RE = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;
const JSON_POINTER_RE = /^(?:\/(?:[^~/]|~[01])*)*$/u;
const REL_JSON_POINTER_RE = /^(?:0|[1-9][0-9]*)(?:#|(?:\/(?:[^~/]|~[01])*)*)$/u;

function regex(s: string): boolean {
  try {
    new RegExp(s, "u");
    return true;
  } catch {
    return false;
  }
}

export const FORMATS: Readonly<Record<string, (s: string) => boolean>> = {
  "date-time": dateTime,
  date,
  time,
  duration: (s) => DURATION_RE.test(s),
  email: (s) => emailWith(s, false),
  "idn-email": (s) => emailWith(s, true),
  hostname: (s) => hostnameWith(s, false),
  "idn-hostname": (s) => hostnameWith(s, true),
  ipv4,
  ipv6,
  uri: (s) => URI.absolute.test(s),
  "uri-reference": (s) => URI.reference.test(s),
  iri: (s) => IRI.absolute.test(s),
  "iri-reference": (s) => IRI.reference.test(s),
  "uri-template": (s) => URI_TEMPLATE_RE.test(s),
  uuid: (s) => UUID_RE.test(s),
  "json-pointer": (s) => JSON_POINTER_RE.test(s),
  "relative-json-pointer": (s) => REL_JSON_POINTER_RE.test(s),
  regex,
};
