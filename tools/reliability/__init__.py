"""tools/reliability: gort-proxy's reliability suite (issue 9); main.py is the driver, run-reliability.sh the command."""
