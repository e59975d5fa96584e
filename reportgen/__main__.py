"""``python -m reportgen`` runs the command line, for environments without the console script."""
from reportgen.interface.cli import main

main(prog_name="reportgen")
