export COMPOSITE_API_KEY=pk_test_…   # the public test key npm run dev printed
export COMPOSITE_API_URL=http://127.0.0.1:8787
