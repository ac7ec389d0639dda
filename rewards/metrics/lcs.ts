/**
 * Length of the longest common subsequence of two sequences of symbols, bit-parallel (Allison–Dix /
 * Hyyrö): O(|a| · |b| / 32) word operations and O(|a|) memory, so long texts stay cheap.
 */
export function lcsLength<T>(a: readonly T[], b: readonly T[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  if (a.length > b.length) [a, b] = [b, a];
  const m = a.length;
  const words = Math.ceil(m / 32);
  const positions = new Map<T, number[]>();
  for (let i = 0; i < m; i++) {
    const list = positions.get(a[i]!);
    if (list) list.push(i);
    else positions.set(a[i]!, [i]);
  }
  const s = new Uint32Array(words).fill(0xffffffff);
  const match = new Uint32Array(words);
  for (const symbol of b) {
    const at = positions.get(symbol);
    if (!at) continue;
    for (const i of at) match[i >>> 5]! |= 1 << (i & 31);
    let carry = 0;
    let borrow = 0;
    for (let k = 0; k < words; k++) {
      const sk = s[k]!;
      const u = (sk & match[k]!) >>> 0;
      const sum = sk + u + carry;
      carry = sum > 0xffffffff ? 1 : 0;
      const diff = sk - u - borrow;
      borrow = diff < 0 ? 1 : 0;
      s[k] = ((sum >>> 0) | (diff >>> 0)) >>> 0;
    }
    for (const i of at) match[i >>> 5] = 0;
  }
  let zeros = 0;
  for (let i = 0; i < m; i++) if ((s[i >>> 5]! & (1 << (i & 31))) === 0) zeros++;
  return zeros;
}
