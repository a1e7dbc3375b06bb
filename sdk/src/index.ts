/** The Composite TypeScript SDK. See sdk/README.md. */
export { Composite, type CompositeOptions, type Properties, type TrackEvent } from "./client.ts";
export { CompositeError } from "./errors.ts";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.ts";
