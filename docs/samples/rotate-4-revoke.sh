# 4. Revoke the old key now instead of waiting for its expiry: refused from its very next request.
curl -sS -X DELETE "$COMPOSITE_API_URL/v1/api_keys/$OLD_KEY_ID" \
  -H "Authorization: Bearer $COMPOSITE_MANAGEMENT_KEY"
