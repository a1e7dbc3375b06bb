# Only where you cannot set a header: URLs end up in access logs, proxies and browser history.
curl -sS -X POST "$COMPOSITE_API_URL/v1/events?api_key=$COMPOSITE_API_KEY" \
  -H "content-type: application/json" \
  -d '{"event": "signup"}'
