# Needs the operator token: on your machine `npm run dev` wrote it to .dev.vars; for a deployed
# gateway export OPERATOR_TOKEN and add --url https://<your gateway> to each command.
PROJECT_ID=$(npm run --silent keys -- project create --name "My app" | jq -r .id)

# Development: test keys. A secret key for your server, a public key for your web page.
npm run --silent keys -- create --project "$PROJECT_ID" --type secret --env test --label "server (dev)"
npm run --silent keys -- create --project "$PROJECT_ID" --type public --env test --label "web (dev)"

# Production: live keys, the public one usable only from your site's origin.
npm run --silent keys -- create --project "$PROJECT_ID" --type secret --env live --label "server" \
  --scopes events:write,events:read
npm run --silent keys -- create --project "$PROJECT_ID" --type public --env live --label "web" \
  --allowed-origins https://app.example.com
