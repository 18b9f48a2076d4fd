"""``python -m suprsend_async.testing``: run the hub emulator (as ``suprsend-async emulator``)."""

import argparse
import sys

from ._cli import add_emulator_arguments, run_emulator

parser = argparse.ArgumentParser(
    prog="python -m suprsend_async.testing", description="Run the local SuprSend hub emulator."
)
add_emulator_arguments(parser)
sys.exit(run_emulator(parser.parse_args()))
