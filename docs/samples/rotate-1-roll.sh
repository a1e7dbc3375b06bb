# 1. Create the replacement. The old key keeps working for expires_in seconds (here 7 days, the
#    most), then answers 401 expired_api_key. The answer holds the new key: shown this once.
curl -sS -X POST "$COMPOSITE_API_URL/v1/api_keys/$OLD_KEY_ID/roll" \
  -H "Authorization: Bearer $COMPOSITE_MANAGEMENT_KEY" \
  -H "content-type: application/json" \
  -d '{"expires_in": 604800}'
