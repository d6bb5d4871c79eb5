"""`python -m lib.miniature`: build the miniatures in a temp dir and print build time, image times and GGUF costs."""

from lib.miniature.report import main

main()
