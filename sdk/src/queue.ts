/**
 * The event queue: events wait here until a batch is due — `flushAt` of them, `flushInterval`
 * after the first, `maxBatchBytes` of JSON, or a `flush()` — and go out one batch at a time, in
 * order (a second request in flight would only race the first for the same key's tokens).
 * Bounded: past `maxQueueSize` a new event is dropped and reported, never held without limit.
 *
 * No I/O and no knowledge of HTTP: `deliver` sends a batch and settles it (delivered, or given up
 * and reported); the queue only decides when and what. Timers are plain setTimeout, so the tests
 * drive it with a fake clock.
 */
import { CompositeError } from "./errors.ts";

export interface QueueOptions {
  /** Events that make a batch due at once. */
  flushAt: number;
  /** Milliseconds an event waits at most before its batch is due. */
  flushInterval: number;
  /** Events held at most; more are dropped (reported through onError). */
  maxQueueSize: number;
  /** Bytes of JSON one batch holds at most (the gateway's body limit is 1 MiB, decompressed). */
  maxBatchBytes: number;
  /** Events one batch holds at most. */
  maxBatchEvents: number;
}

/** What one event is on the wire (the SDK's own shape, API.md: POST /v1/batch `{ batch: [...] }`). */
export type EventPayload = Record<string, unknown> & { message_id: string };

interface Queued {
  seq: number;
  payload: EventPayload;
  bytes: number;
}

/** Sends one batch and settles it: resolves when it was delivered or given up on (and reported); never rejects. */
export type Deliver = (batch: EventPayload[]) => Promise<void>;
export type Report = (error: CompositeError, events: EventPayload[]) => void;

/** `{"batch":[`, `],"sent_at":"…"}` and the commas: what a batch adds to its events' bytes. */
const ENVELOPE_BYTES = 64;

export class EventQueue {
  readonly #options: QueueOptions;
  readonly #deliver: Deliver;
  readonly #report: Report;
  #events: Queued[] = [];
  #bytes = 0;
  #seq = 0;
  /** Every event up to this sequence number has been delivered or reported. */
  #settled = 0;
  /** Events up to this one must go now (a flush, the timer), whatever the count. */
  #dueThrough = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sending = false;
  #waiters: { seq: number; resolve: () => void }[] = [];
  #closed = false;
  #dropped = 0;

  constructor(options: QueueOptions, deliver: Deliver, report: Report) {
    this.#options = options;
    this.#deliver = deliver;
    this.#report = report;
  }

  /** Events waiting to be sent (not those in flight). */
  get size(): number {
    return this.#events.length;
  }

  /** Events dropped so far: queue full, too large alone, or sent after close(). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues one event; false (and reported) when it was dropped. */
  enqueue(payload: EventPayload): boolean {
    if (this.#closed) return this.#drop(new CompositeError("client_closed", "client_closed: the client was closed; this event was not sent."), payload);
    const bytes = utf8Length(JSON.stringify(payload));
    if (bytes + ENVELOPE_BYTES > this.#options.maxBatchBytes) {
      return this.#drop(
        new CompositeError("payload_too_large", `payload_too_large: one event of ${bytes} bytes is over maxBatchBytes (${this.#options.maxBatchBytes}); it was not sent.`),
        payload,
      );
    }
    if (this.#events.length >= this.#options.maxQueueSize) {
      return this.#drop(
        new CompositeError("queue_full", `queue_full: ${this.#options.maxQueueSize} events are waiting to be sent (maxQueueSize); this one was dropped.`),
        payload,
      );
    }
    this.#events.push({ seq: ++this.#seq, payload, bytes });
    this.#bytes += bytes;
    if (this.#batchIsFull()) this.#pump();
    else this.#timer ??= setTimeout(() => this.#due(), this.#options.flushInterval);
    return true;
  }

  /** Resolves once every event queued so far has been delivered or reported. */
  flush(): Promise<void> {
    const target = this.#seq;
    if (target <= this.#settled) return Promise.resolve();
    const settled = new Promise<void>((resolve) => this.#waiters.push({ seq: target, resolve }));
    this.#dueThrough = Math.max(this.#dueThrough, target);
    this.#pump();
    return settled;
  }

  /** Refuses further events and resolves once the queued ones are delivered or reported. */
  close(): Promise<void> {
    this.#closed = true;
    return this.flush();
  }

  /**
   * Takes queued events out for a last send as the page goes away (keepalive): batches of at most
   * `budget` bytes in all. What does not fit stays queued (a page restored from the back-forward
   * cache sends it later).
   */
  takeForUnload(budget: number): EventPayload[][] {
    const batches: EventPayload[][] = [];
    let left = budget;
    while (this.#events.length > 0 && this.#events[0]!.bytes + ENVELOPE_BYTES <= left) {
      const batch = this.#takeBatch(left);
      left -= batch.bytes + ENVELOPE_BYTES;
      batches.push(batch.events.map((event) => event.payload));
      this.#settle(batch.events.at(-1)!.seq);
    }
    if (this.#events.length === 0) this.#clearTimer();
    return batches;
  }

  #batchIsFull(): boolean {
    return this.#events.length >= this.#options.flushAt || this.#bytes + ENVELOPE_BYTES >= this.#options.maxBatchBytes;
  }

  #due(): void {
    this.#timer = undefined;
    this.#dueThrough = Math.max(this.#dueThrough, this.#seq);
    this.#pump();
  }

  /** Sends due batches one after another until none is due; then waits for the timer again. */
  #pump(): void {
    if (this.#sending) return;
    this.#clearTimer();
    this.#sending = true;
    void (async () => {
      try {
        while (this.#events.length > 0 && (this.#batchIsFull() || this.#events[0]!.seq <= this.#dueThrough)) {
          const { events } = this.#takeBatch(this.#options.maxBatchBytes);
          await this.#deliver(events.map((event) => event.payload));
          this.#settle(events.at(-1)!.seq);
        }
      } finally {
        this.#sending = false;
      }
      if (this.#events.length > 0) this.#timer ??= setTimeout(() => this.#due(), this.#options.flushInterval);
    })();
  }

  #takeBatch(maxBytes: number): { events: Queued[]; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (const event of this.#events) {
      if (count === this.#options.maxBatchEvents || (count > 0 && bytes + event.bytes + 1 + ENVELOPE_BYTES > maxBytes)) break;
      count += 1;
      bytes += event.bytes + 1;
    }
    const events = this.#events.splice(0, count);
    for (const event of events) this.#bytes -= event.bytes;
    return { events, bytes };
  }

  #settle(seq: number): void {
    this.#settled = Math.max(this.#settled, seq);
    const ready = this.#waiters.filter((waiter) => waiter.seq <= this.#settled);
    this.#waiters = this.#waiters.filter((waiter) => waiter.seq > this.#settled);
    for (const waiter of ready) waiter.resolve();
  }

  #drop(error: CompositeError, payload: EventPayload): false {
    this.#dropped += 1;
    this.#report(error, [payload]);
    return false;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // 2 bytes up to U+07FF, 3 above; a surrogate pair (4 bytes) is two 3-counted units minus 2.
    if (code >= 0x80) bytes += code >= 0x800 ? (code >= 0xdc00 && code <= 0xdfff ? 0 : 2) : 1;
  }
  return bytes;
}
