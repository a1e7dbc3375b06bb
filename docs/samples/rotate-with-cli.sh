# 1. Create the replacement with the same type, environment and settings as the old key.
npm run --silent keys -- get "$OLD_KEY_ID"
npm run --silent keys -- create --project "$PROJECT_ID" --type public --env live --label "web (rotated)" \
  --allowed-origins https://app.example.com
# 2. and 3. Deploy your applications with the new key and check that they work. Then:
# 4. Revoke the old key.
npm run --silent keys -- revoke "$OLD_KEY_ID"
