# 3. Verify: the new key works, and the old one is no longer used (last_used_at stops moving).
curl -sS -X POST "$COMPOSITE_API_URL/v1/events" \
  -H "Authorization: Bearer $NEW_KEY" -H "content-type: application/json" -d '{"event": "rotation_check"}'
curl -sS "$COMPOSITE_API_URL/v1/api_keys/$OLD_KEY_ID/usage?days=1" \
  -H "Authorization: Bearer $COMPOSITE_MANAGEMENT_KEY"
