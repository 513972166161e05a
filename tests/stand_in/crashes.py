"""Ends with exit code 3 a moment after it starts, as a component that crashes."""

import sys
import time

if __name__ == "__main__":
    time.sleep(1)
    sys.exit(3)
