curl -sS -X POST "$COMPOSITE_API_URL/v1/api_keys" \
  -H "Authorization: Bearer $COMPOSITE_MANAGEMENT_KEY" \
  -H "content-type: application/json" \
  -d '{"type": "public", "environment": "test", "label": "web (dev)"}'
