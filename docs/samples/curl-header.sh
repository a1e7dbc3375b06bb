curl -sS -X POST "$COMPOSITE_API_URL/v1/events" \
  -H "Authorization: Bearer $COMPOSITE_API_KEY" \
  -H "content-type: application/json" \
  -d '{"event": "signup", "properties": {"plan": "pro"}}'
