"""``python -m dailypapers.cli``, as tests start the command in a subprocess."""

from dailypapers.cli import main

main()
