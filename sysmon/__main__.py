# PYTHON_ARGCOMPLETE_OK
import sys

from sysmon.cli import main

sys.exit(main())
