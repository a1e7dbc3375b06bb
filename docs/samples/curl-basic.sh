# curl -u sends "Authorization: Basic base64(<key>:)": the key is the user name, the password empty.
curl -sS "$COMPOSITE_API_URL/v1/project" -u "$COMPOSITE_API_KEY:"
