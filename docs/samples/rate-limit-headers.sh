# -D - prints the answer's headers; the body is not needed here.
curl -sS -o /dev/null -D - -X POST "$COMPOSITE_API_URL/v1/events" \
  -H "Authorization: Bearer $COMPOSITE_API_KEY" \
  -H "content-type: application/json" -d '{"event": "page_view"}'
