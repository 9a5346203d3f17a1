"""`python -m faceprint.cli` runs the command line."""

from faceprint.cli.app import main

main()
