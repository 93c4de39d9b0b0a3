/** One running call of a SingleFlight, with what its owner needs to know about it. */
export interface Flight<T, M> {
  readonly promise: Promise<T>;
  readonly meta: M;
}

/**
 * In-process promise de-duplication: at most one call per key runs at a time, later callers get
 * its promise. A flight is forgotten once it settles, so a failure is never cached. The owner
 * decides whether a running flight may be joined (an epoch, a forced call): `current()` shows it,
 * `start()` replaces it, `forget()` drops it (a write that makes its result obsolete).
 */
export class SingleFlight<T, M = undefined> {
  private readonly running = new Map<string, Flight<T, M>>();

  /** The key's running flight, if any. */
  current(key: string): Flight<T, M> | undefined {
    return this.running.get(key);
  }

  has(key: string): boolean {
    return this.running.has(key);
  }

  /** Joins the key's running flight, or runs `call` as its new one. */
  join(key: string, call: () => Promise<T>, meta: M): Promise<T> {
    return this.running.get(key)?.promise ?? this.start(key, call, meta);
  }

  /** Runs `call` as the key's flight, in place of any running one (which then settles unobserved by new callers). */
  start(key: string, call: () => Promise<T>, meta: M): Promise<T> {
    const promise = call();
    const flight: Flight<T, M> = { promise, meta };
    this.running.set(key, flight);
    // Cleared after settling, and only if still the key's flight: `call` may settle before the
    // map is written, and a newer flight may have replaced this one.
    const clear = () => {
      if (this.running.get(key) === flight) this.running.delete(key);
    };
    promise.then(clear, clear);
    return promise;
  }

  /**
   * Forgets the key's running flight: the next caller starts a new one. The forgotten flight still
   * settles for those already holding its promise (its owner can tell by `current()`).
   */
  forget(key: string): void {
    this.running.delete(key);
  }

  /** Forgets every running flight, as `forget` does one. */
  clear(): void {
    this.running.clear();
  }

  flights(): IterableIterator<Flight<T, M>> {
    return this.running.values();
  }
}
