# As the operator (CLI):
npm run --silent keys -- revoke "$KEY_ID"
# Or with a secret key of the project that has projects:write (management API):
curl -sS -X DELETE "$COMPOSITE_API_URL/v1/api_keys/$KEY_ID" -H "Authorization: Bearer $COMPOSITE_MANAGEMENT_KEY"
