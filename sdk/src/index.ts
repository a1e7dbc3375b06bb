/** The Composite TypeScript SDK. See sdk/README.md. */
export { Composite, DEFAULT_QUEUE, KEEPALIVE_BUDGET_BYTES, type CompositeOptions, type EventOptions, type KeyEnvironment, type KeyType, type Properties } from "./client.ts";
export { CompositeError } from "./errors.ts";
export type { EventPayload, QueueOptions } from "./queue.ts";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.ts";
