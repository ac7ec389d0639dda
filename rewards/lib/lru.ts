/**
 * A Map-backed least-recently-used cache bounded by a total weight: by default every entry weighs 1, so
 * the bound is a number of entries; give `weigh` to bound bytes instead. An entry heavier than the
 * whole bound is not kept (it would only evict everything else and then itself).
 */
export class Lru<K, V> {
  private readonly map = new Map<K, { value: V; weight: number }>();
  private total = 0;

  constructor(
    readonly max: number,
    private readonly weigh: (value: V) => number = () => 1,
  ) {}

  get(key: K): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    this.map.delete(key);
    this.map.set(key, hit);
    return hit.value;
  }

  set(key: K, value: V): void {
    this.delete(key);
    const weight = this.weigh(value);
    if (weight > this.max) return;
    this.map.set(key, { value, weight });
    this.total += weight;
    while (this.total > this.max) {
      const [oldest, entry] = this.map.entries().next().value!;
      this.map.delete(oldest);
      this.total -= entry.weight;
    }
  }

  delete(key: K): void {
    const old = this.map.get(key);
    if (!old) return;
    this.total -= old.weight;
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }
}
