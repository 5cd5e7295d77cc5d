/** A set that remembers the last `capacity` entries: enough to spot redelivered events without growing forever. */
export class RecentSet<T> {
  private items = new Set<T>();

  constructor(private readonly capacity: number) {}

  has(item: T): boolean {
    return this.items.has(item);
  }

  add(item: T): void {
    this.items.delete(item);
    this.items.add(item);
    if (this.items.size > this.capacity) this.items.delete(this.items.values().next().value as T);
  }

  delete(item: T): void {
    this.items.delete(item);
  }
}

/** A map that keeps the last `capacity` entries written (status messages of recent orders, open interactions). */
export class RecentMap<K, V> {
  private items = new Map<K, V>();

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    return this.items.get(key);
  }

  set(key: K, value: V): void {
    this.items.delete(key);
    this.items.set(key, value);
    if (this.items.size > this.capacity) this.items.delete(this.items.keys().next().value as K);
  }

  delete(key: K): void {
    this.items.delete(key);
  }
}
