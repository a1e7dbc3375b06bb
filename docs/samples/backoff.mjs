// Sends one event with plain fetch, retrying 429 and 5xx with exponential backoff and full jitter,
// never sooner than the gateway's Retry-After. (The Composite SDK does this for you.)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function sendWithBackoff(event, { maxRetries = 5, baseDelayMs = 250, maxDelayMs = 30_000 } = {}) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${process.env.COMPOSITE_API_URL}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${process.env.COMPOSITE_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(event),
    });
    const retryable = response.status === 429 || response.status >= 500;
    if (!retryable || attempt === maxRetries) return response;

    const retryAfterMs = Number(response.headers.get("retry-after") ?? 0) * 1000;
    const backoffMs = Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
    const waitMs = Math.max(retryAfterMs, backoffMs);
    if (waitMs > maxDelayMs) return response; // e.g. the daily quota: resets at 00:00 UTC
    await response.body?.cancel();
    await sleep(waitMs);
  }
}

const response = await sendWithBackoff({ event: "signup" });
console.log(response.status, response.headers.get("x-ratelimit-remaining"), "requests left in the bucket");
