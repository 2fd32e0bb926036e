"""e2e: gort-proxy's end-to-end scenarios, run by ../e2e_test.py."""
