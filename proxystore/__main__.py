"""`python -m proxystore`: hands over to the fire CLI."""

from proxystore.cli import main

main()
