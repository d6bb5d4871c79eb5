"""`python -m lib`: see lib.cli. A Ctrl-C during start-up (imports) gets the same message as later."""

import sys

try:
    from lib.cli import main

    code = main()
except KeyboardInterrupt:
    print("interrupted; nothing was written", file=sys.stderr)
    code = 130
sys.exit(code)
