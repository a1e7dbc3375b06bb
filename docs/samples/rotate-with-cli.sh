# 1. Roll: a replacement with the same type, environment and settings (its key is shown ONCE);
#    the old key keeps working for 24 hours, so nothing breaks while you deploy.
npm run --silent keys -- roll "$OLD_KEY_ID" --expires-in 24h
# 2. and 3. Deploy your applications with the new key and check that they work: the old key's
#    traffic stops (its usage today, and when it was last used).
npm run --silent keys -- usage "$OLD_KEY_ID" --days 1
# 4. Revoke the old key now instead of waiting for its expiry.
npm run --silent keys -- revoke "$OLD_KEY_ID"
