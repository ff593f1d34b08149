import sys

from bulkbackup._cli.cli import main

sys.exit(main())
